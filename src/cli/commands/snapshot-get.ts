import { command } from "../command.js";
import { clusterOptions, contextFlag, identityFlag, passphraseFileFlag, ageKeyOptions, kubeconfigFlag, outputFlag, parseOutput, rulesFlag, storeFlag, veleroNamespaceFlag } from "../common-flags.js";

export const snapshotGet = command({
  path: ["snapshot", "get"],
  summary: "objects out of an etcd snapshot, offline, as clean manifests for twinsnap apply",
  args: "[RESOURCE] [[NAMESPACE/]NAME]",
  maxArgs: 2,
  flags: {
    backup: { type: "string", value: "NAME", help: "the snapshot paired with this Velero backup" },
    snapshot: { type: "string", value: "FILE", help: "or a snapshot file (zstd, gzip or plain)" },
    store: storeFlag,
    namespace: { type: "string", short: "n", value: "NAMESPACE", help: "only objects of this namespace" },
    output: outputFlag(["yaml", "json"], "yaml"),
    raw: { type: "boolean", help: "objects as etcd holds them, without stripping" },
    "encryption-config": { type: "string", value: "FILE", help: "the apiserver's EncryptionConfiguration, to read encrypted Secrets" },
    rules: rulesFlag,
    identity: identityFlag,
    "passphrase-file": passphraseFileFlag,
    kubeconfig: kubeconfigFlag,
    context: contextFlag,
    "velero-namespace": veleroNamespaceFlag,
  },
  run: async ({ values, positionals }, io) =>
    (await import("../snapshot-get-command.js")).snapshotGetCommand(
      {
        store: values.store,
        veleroNamespace: values["velero-namespace"],
        env: io.env,
        output: parseOutput(values.output, ["yaml", "json"] as const),
        raw: values.raw ?? false,
        ...clusterOptions(values),
        ...(values.backup ? { backup: values.backup } : {}),
        ...(values.snapshot ? { snapshotFile: values.snapshot } : {}),
        ...(positionals[0] ? { resource: positionals[0] } : {}),
        ...(positionals[1] ? { target: positionals[1] } : {}),
        ...(values.namespace ? { namespace: values.namespace } : {}),
        ...(values["encryption-config"] ? { encryptionConfig: values["encryption-config"] } : {}),
        ...(values.rules ? { rulesFile: values.rules } : {}),
        ...ageKeyOptions(values),
      },
      io,
    ),
});
