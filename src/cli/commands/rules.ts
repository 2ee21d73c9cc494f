import { command } from "../command.js";
import { outputFlag, parseOutput, rulesFlag } from "../common-flags.js";
import { rulesCommand } from "../rules-command.js";

export const rules = command({
  path: ["rules"],
  summary: "the stripping and dependency rules in force, and why each exists",
  flags: { rules: rulesFlag, output: outputFlag(["text", "json"], "text"), json: { type: "boolean", help: "the same as -o json" } },
  run: ({ values }, io) => rulesCommand({ json: values.json || parseOutput(values.output, ["text", "json"] as const) === "json", ...(values.rules ? { rulesFile: values.rules } : {}) }, io.out),
});
