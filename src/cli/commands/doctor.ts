import { command } from "../command.js";
import { clusterOptions, contextFlag, kubeconfigFlag, outputFlag, parseOutput, veleroNamespaceFlag } from "../common-flags.js";
import { parseDuration } from "../parse-flags.js";
import { UsageError } from "../usage-error.js";
import { REPORT_FORMATS } from "../report.js";

export const doctor = command({
  path: ["doctor"],
  summary: "check the running Velero: twinsnap's actions loaded, restore-order on in the latest backup and restore",
  flags: {
    kubeconfig: kubeconfigFlag,
    context: contextFlag,
    "velero-namespace": veleroNamespaceFlag,
    timeout: { type: "string", value: "DURATION", default: "60s", help: "how long Velero may take to answer a request (a plain number is seconds)" },
    output: outputFlag(REPORT_FORMATS, "text"),
  },
  details: 'One line per check: OK, WARN or FAIL with what to do. Exit code 1 when any is not OK. -o json|yaml: {"checks": [{check, state, detail}]}.',
  async run({ values }, io) {
    const timeoutMs = parseDuration("--timeout", values.timeout, { bareSeconds: true });
    if (timeoutMs <= 0) throw new UsageError("--timeout must be more than 0");
    return (await import("../doctor-command.js")).doctorCommand({ veleroNamespace: values["velero-namespace"], timeoutMs, env: io.env, output: parseOutput(values.output, REPORT_FORMATS), ...clusterOptions(values) }, io);
  },
});
