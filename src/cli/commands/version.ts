import { isSea } from "node:sea";
import { command } from "../command.js";
import { outputFlag, parseOutput } from "../common-flags.js";
import { formatVersionReport, versionReport } from "../version-command.js";

export const version = command({
  path: ["version"],
  summary: "twinsnap's version, the Node it runs on, the Velero plugin protocol it speaks",
  flags: { output: outputFlag(["text", "json"], "text"), json: { type: "boolean", help: "the same as -o json" } },
  async run({ values }, io) {
    const report = versionReport({ node: process.version, singleExecutable: isSea() });
    io.out(values.json || parseOutput(values.output, ["text", "json"] as const) === "json" ? `${JSON.stringify(report, null, 2)}\n` : formatVersionReport(report));
    return 0;
  },
});
