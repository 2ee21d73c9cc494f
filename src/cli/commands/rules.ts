import { command } from "../command.js";
import { outputFlag, parseOutput, rulesFlag } from "../common-flags.js";
import { REPORT_FORMATS } from "../report.js";

export const rules = command({
  path: ["rules"],
  summary: "the stripping and dependency rules in force, and why each exists",
  flags: { rules: rulesFlag, output: outputFlag(REPORT_FORMATS, "text"), json: { type: "boolean", help: "the same as -o json" } },
  details: '-o json|yaml: {"strip": [{name, kinds, stages, removes, why, origin}], "dependencies": [{name, kinds, why, origin}]}.',
  run: async ({ values }, io) => (await import("../rules-command.js")).rulesCommand({ output: values.json ? "json" : parseOutput(values.output, REPORT_FORMATS), ...(values.rules ? { rulesFile: values.rules } : {}) }, io.out),
});
