import { command } from "../command.js";
import { clusterOptions, contextFlag, kubeconfigFlag, outputFlag, parseOutput, rulesFlag } from "../common-flags.js";
import { parsePositiveInteger } from "../parse-flags.js";
import { UsageError } from "../usage-error.js";
import { REPORT_FORMATS } from "../report.js";

export const apply = command({
  path: ["apply"],
  summary: "apply manifests in dependency order (server-side apply), CRDs before their resources, webhooks last",
  args: "DIR|FILE...",
  maxArgs: Infinity,
  flags: {
    "dry-run": { type: "boolean", help: "ask the apiserver to check every object (server-side dry run), change nothing" },
    concurrency: { type: "string", value: "N", default: "16", help: "objects applied at once within one step of the order" },
    kubeconfig: kubeconfigFlag,
    context: contextFlag,
    rules: rulesFlag,
    output: outputFlag(REPORT_FORMATS, "text"),
  },
  details: 'Each object\'s outcome goes to stderr as it happens; the summary to stdout. -o json|yaml: {"counts": {created, configured, unchanged, failed, "not-attempted"}, "cycles": [[key...]], "outcomes": [{key, action, dryRun, error?}]}.',
  async run({ values, positionals }, io) {
    if (positionals.length === 0) throw new UsageError("apply needs at least one directory or file");
    return (await import("../apply-command.js")).applyCommand(
      { paths: positionals, output: parseOutput(values.output, REPORT_FORMATS), dryRun: values["dry-run"] ?? false, concurrency: parsePositiveInteger("--concurrency", values.concurrency), env: io.env, ...clusterOptions(values), ...(values.rules ? { rulesFile: values.rules } : {}) },
      io,
    );
  },
});
