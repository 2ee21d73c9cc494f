// `twinsnap pairs list | show | verify | diff`: the backup/snapshot pairs in a store.
import { command } from "../command.js";
import { clusterOptions, contextFlag, etcdutlFlag, identityFlag, passphraseFileFlag, ageKeyOptions, kubeconfigFlag, outputFlag, parseOutput, storeFlag, veleroNamespaceFlag } from "../common-flags.js";
import { UsageError } from "../usage-error.js";
import { REPORT_FORMATS } from "../report.js";

const storeFlags = { store: storeFlag, kubeconfig: kubeconfigFlag, context: contextFlag, "velero-namespace": veleroNamespaceFlag };
const storeOptions = (values: { store: string; "velero-namespace": string; kubeconfig?: string | undefined; context?: string | undefined }, env: NodeJS.ProcessEnv) => ({
  store: values.store,
  veleroNamespace: values["velero-namespace"],
  env,
  ...clusterOptions(values),
});

export const pairsList = command({
  path: ["pairs", "list"],
  summary: "every pair in the store: its state, Velero's phase, the snapshot's revision and size",
  flags: { ...storeFlags, output: outputFlag(["table", "json", "yaml"], "table") },
  details: "Damaged records are listed as such, with their key; they never hide the others.",
  run: async ({ values }, io) => (await import("../pairs-command.js")).pairsListCommand({ ...storeOptions(values, io.env), output: parseOutput(values.output, ["table", "json", "yaml"] as const) }, io),
});

export const pairsShow = command({
  path: ["pairs", "show"],
  summary: "one pair's record, by backup name or uid",
  args: "BACKUP",
  maxArgs: 1,
  flags: { ...storeFlags, output: outputFlag(["yaml", "json"], "yaml") },
  async run({ values, positionals }, io) {
    if (positionals.length !== 1) throw new UsageError("pairs show needs one backup name or uid");
    return (await import("../pairs-command.js")).pairsShowCommand({ ...storeOptions(values, io.env), backup: positionals[0]!, output: parseOutput(values.output, ["yaml", "json"] as const) }, io);
  },
});

export const pairsVerify = command({
  path: ["pairs", "verify"],
  summary: "read every snapshot back: its sha256, and the revision etcdutl finds against the record",
  args: "[BACKUP...]",
  maxArgs: Infinity,
  flags: { ...storeFlags, etcdutl: etcdutlFlag, identity: identityFlag, "passphrase-file": passphraseFileFlag, output: outputFlag(REPORT_FORMATS, "text") },
  details:
    "Without BACKUP, every pair. One line per pair, OK or PROBLEM with what is wrong; exit code 1 when any has a problem, 4 when a named backup has no pair. " +
    '-o json|yaml: {"checked", "problems", "pairs": [{backup, uid, state, revision, ok, problems: [...]}], "damaged": [{key, error}], "missing": [...]}.',
  run: async ({ values, positionals }, io) =>
    (await import("../pairs-command.js")).pairsVerifyCommand({ ...storeOptions(values, io.env), output: parseOutput(values.output, REPORT_FORMATS), backups: positionals, ...(values.etcdutl ? { etcdutl: values.etcdutl } : {}), ...ageKeyOptions(values) }, io),
});

export const pairsDiff = command({
  path: ["pairs", "diff"],
  summary: "objects in the backup's etcd snapshot that the Velero backup does not hold, grouped by why",
  args: "BACKUP",
  maxArgs: 1,
  flags: {
    ...storeFlags,
    "from-backup": { type: "string", value: "BACKUP.tar.gz", help: "Velero's backup tarball (default: read from the bsl: store)" },
    "backup-spec": { type: "string", value: "FILE", help: "the Backup object (YAML or JSON), for its filters, when not read from the cluster" },
    snapshot: { type: "string", value: "FILE", help: "an etcd snapshot file instead of the pair's (zstd, gzip or plain)" },
    "encryption-config": { type: "string", value: "FILE", help: "the apiserver's EncryptionConfiguration, to read encrypted Secrets" },
    identity: identityFlag,
    "passphrase-file": passphraseFileFlag,
    output: outputFlag(["table", "json", "yaml"], "table"),
  },
  details: '-o json|yaml: {"backup", "snapshot": {revision, ...}, "filters": {source, ...}, "counts": {snapshotObjects, backupItems, missed, neverBackedUp, undecodable}, "missed": [{groupResource, namespace, name, reason}], ...}.',
  async run({ values, positionals }, io) {
    if (positionals.length !== 1) throw new UsageError("pairs diff needs one backup name");
    return (await import("../pairs-diff-command.js")).pairsDiffCommand(
      {
        ...storeOptions(values, io.env),
        backup: positionals[0]!,
        output: parseOutput(values.output, ["table", "json", "yaml"] as const),
        ...(values["from-backup"] ? { fromBackup: values["from-backup"] } : {}),
        ...(values["backup-spec"] ? { backupSpec: values["backup-spec"] } : {}),
        ...(values.snapshot ? { snapshotFile: values.snapshot } : {}),
        ...(values["encryption-config"] ? { encryptionConfig: values["encryption-config"] } : {}),
        ...ageKeyOptions(values),
      },
      io,
    );
  },
});
