import { command } from "../command.js";
import { clusterOptions, contextFlag, identityFlag, passphraseFileFlag, ageKeyOptions, kubeconfigFlag, storeFlag, veleroNamespaceFlag } from "../common-flags.js";
import { parsePositiveInteger } from "../parse-flags.js";
import { UsageError } from "../usage-error.js";

export const etcdRestore = command({
  path: ["etcd", "restore"],
  summary: "restore an etcd member's data dir from the verified snapshot paired with a backup",
  flags: {
    backup: { type: "string", value: "NAME", help: "the Velero backup whose paired snapshot to restore" },
    snapshot: { type: "string", value: "NAME", help: "or a snapshot `twinsnap etcd snapshot --name NAME` stored" },
    store: storeFlag,
    "data-dir": { type: "string", value: "DIR", help: "where the member's new data dir goes (required; must not exist unless --force)" },
    name: { type: "string", value: "MEMBER", help: "the member's name, as etcd's --name (required)" },
    "initial-cluster": { type: "string", value: "a=URL,b=URL", help: "every member and its peer URL, for a cluster of several" },
    "initial-advertise-peer-urls": { type: "string", value: "URL", help: "this member's peer URL (a single member)" },
    etcdutl: { type: "string", value: "PATH", default: "etcdutl", help: "the etcdutl binary that restores" },
    "bump-revision": { type: "string", value: "N", default: "1000000000", help: "raise the revision by N and mark it compacted, so watchers re-list instead of missing changes" },
    force: { type: "boolean", help: "replace an existing --data-dir" },
    identity: identityFlag,
    "passphrase-file": passphraseFileFlag,
    kubeconfig: kubeconfigFlag,
    context: contextFlag,
    "velero-namespace": veleroNamespaceFlag,
  },
  details: "The snapshot is checked against its record (sha256, and the revision etcdutl reads) before anything is written.",
  async run({ values }, io) {
    if (!values.name || !values["data-dir"]) throw new UsageError("etcd restore needs --name MEMBER and --data-dir DIR");
    return (await import("../etcd-restore-command.js")).etcdRestoreCommand(
      {
        store: values.store,
        name: values.name,
        dataDir: values["data-dir"],
        etcdutl: values.etcdutl,
        bumpRevision: parsePositiveInteger("--bump-revision", values["bump-revision"]),
        force: values.force ?? false,
        veleroNamespace: values["velero-namespace"],
        env: io.env,
        ...ageKeyOptions(values),
        ...clusterOptions(values),
        ...(values.backup ? { backup: values.backup } : {}),
        ...(values.snapshot ? { snapshot: values.snapshot } : {}),
        ...(values["initial-cluster"] ? { initialCluster: values["initial-cluster"] } : {}),
        ...(values["initial-advertise-peer-urls"] ? { peerUrl: values["initial-advertise-peer-urls"] } : {}),
      },
      io,
    );
  },
});
