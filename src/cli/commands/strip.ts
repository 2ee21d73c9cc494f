import { command } from "../command.js";
import { rulesFlag } from "../common-flags.js";

export const strip = command({
  path: ["strip"],
  summary: "clean manifests with twinsnap's rules",
  args: "[FILE...]",
  maxArgs: Infinity,
  flags: {
    stage: { type: "string", value: "STAGE", default: "export", help: "which rules apply: export (for apply elsewhere), backup (what the plugin strips at backup) or restore" },
    rules: rulesFlag,
    verbose: { type: "boolean", short: "v", help: "say on stderr which rule removed what" },
  },
  details: 'FILE is YAML or JSON, one or more documents or a List; "-" or no FILE reads stdin. The result goes to stdout.',
  run: async ({ values, positionals }, io) =>
    (await import("../strip-command.js")).stripCommand({ files: positionals, stage: values.stage, verbose: values.verbose ?? false, ...(values.rules ? { rulesFile: values.rules } : {}) }, io),
});
