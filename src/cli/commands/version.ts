import { isSea } from "node:sea";
import { command } from "../command.js";
import { outputFlag, parseOutput } from "../common-flags.js";
import { formatVersionReport, versionReport } from "../version-command.js";
import { formatReport, REPORT_FORMATS } from "../report.js";

export const version = command({
  path: ["version"],
  summary: "twinsnap's version, the Node it runs on, the Velero plugin protocol it speaks",
  flags: { output: outputFlag(REPORT_FORMATS, "text"), json: { type: "boolean", help: "the same as -o json" } },
  details: '-o json|yaml: {"twinsnap", "node", "singleExecutable", "velero": {goPluginCoreProtocol, pluginProtocol, actionApis}}.',
  async run({ values }, io) {
    const report = versionReport({ node: process.version, singleExecutable: isSea() });
    io.out(formatReport(values.json ? "json" : parseOutput(values.output, REPORT_FORMATS), report, () => formatVersionReport(report)));
    return 0;
  },
});
