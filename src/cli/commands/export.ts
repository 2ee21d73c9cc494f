import { command } from "../command.js";
import { clusterOptions, contextFlag, kubeconfigFlag, listFlag, outputFlag, parseOutput, rulesFlag } from "../common-flags.js";
import { formatReport, REPORT_FORMATS } from "../report.js";
import { progressLine } from "../progress.js";
import { UsageError } from "../usage-error.js";

export const exportManifests = command({
  path: ["export"],
  summary: "clean manifests, one file per object, from a live cluster or (offline) a Velero backup",
  flags: {
    out: { type: "string", value: "DIR", help: "where the manifests go (required); it must be empty unless --force" },
    "from-backup": { type: "string", value: "BACKUP.tar.gz", help: "read a Velero backup tarball instead of a cluster" },
    kubeconfig: kubeconfigFlag,
    context: contextFlag,
    rules: rulesFlag,
    force: { type: "boolean", help: "write into a DIR that is not empty" },
    "include-namespaces": { type: "string", value: "a,b", help: "only these namespaces" },
    "exclude-namespaces": { type: "string", value: "a,b", help: "not these namespaces" },
    "include-resources": { type: "string", value: "r,s", help: "only these resources (plural names: deployments,configmaps)" },
    "exclude-resources": { type: "string", value: "r,s", help: "not these resources" },
    "include-generated": { type: "boolean", help: "also objects a controller made (ReplicaSets, Pods of a Deployment, Endpoints...)" },
    output: outputFlag(REPORT_FORMATS, "text"),
  },
  details:
    "On a terminal, stderr shows the count as objects are written; the summary line goes to stderr at the end either way. " +
    '-o json|yaml also prints the summary on stdout: {"exported", "skippedByRules", "filtered", "generated" (live exports: left to the target\'s controllers)}.',
  async run({ values }, io) {
    if (!values.out) throw new UsageError("export needs --out DIR");
    const output = parseOutput(values.output, REPORT_FORMATS);
    const common = {
      out: values.out,
      force: values.force ?? false,
      ...(values.rules ? { rulesFile: values.rules } : {}),
      ...(listFlag(values["include-namespaces"]) ? { includeNamespaces: listFlag(values["include-namespaces"])! } : {}),
      ...(listFlag(values["exclude-namespaces"]) ? { excludeNamespaces: listFlag(values["exclude-namespaces"])! } : {}),
      ...(listFlag(values["include-resources"]) ? { includeResources: listFlag(values["include-resources"])! } : {}),
      ...(listFlag(values["exclude-resources"]) ? { excludeResources: listFlag(values["exclude-resources"])! } : {}),
    };
    const line = progressLine(io);
    const progress = (text: string, transient?: boolean) => (transient ? line.show(text) : line.print(text));
    let summary;
    try {
      if (values["from-backup"]) summary = await (await import("../export-command.js")).exportFromBackup({ ...common, fromBackup: values["from-backup"] }, progress);
      else summary = await (await import("../export-command.js")).exportFromCluster({ ...common, includeGenerated: values["include-generated"] ?? false, env: io.env, ...clusterOptions(values) }, progress);
    } finally {
      line.done();
    }
    if (output !== "text") io.out(formatReport(output, summary, () => ""));
    return 0;
  },
});
