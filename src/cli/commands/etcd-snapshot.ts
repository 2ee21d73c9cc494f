import { DEFAULT_SNAPSHOT_COMPRESSION, SNAPSHOT_COMPRESSIONS } from "../../etcd/compression.js";
import { command } from "../command.js";
import { clusterOptions, contextFlag, encryptPassphraseFileFlag, encryptToFileFlag, encryptToFlag, etcdutlFlag, kubeconfigFlag, storeFlag, veleroNamespaceFlag } from "../common-flags.js";
import { parseEndpoints } from "../parse-flags.js";
import { UsageError } from "../usage-error.js";

export const etcdSnapshot = command({
  path: ["etcd", "snapshot"],
  summary: "stream a verified etcd snapshot into a store",
  flags: {
    endpoints: { type: "string", value: "URL[,URL]", help: "etcd's client URLs (required); without a scheme, http://" },
    cacert: { type: "string", value: "FILE", help: "the CA that signed etcd's server certificate" },
    cert: { type: "string", value: "FILE", help: "a client certificate etcd accepts (kubeadm: /etc/kubernetes/pki/apiserver-etcd-client.crt)" },
    key: { type: "string", value: "FILE", help: "its key" },
    store: storeFlag,
    name: { type: "string", value: "NAME", help: "the snapshot's name in the store (default: etcd-<time>)" },
    compression: { type: "string", value: SNAPSHOT_COMPRESSIONS.join("|"), default: DEFAULT_SNAPSHOT_COMPRESSION, help: "how the snapshot is stored" },
    "read-back": { type: "boolean", help: "after storing, read the object back and check its sha256" },
    etcdutl: etcdutlFlag,
    "encrypt-to": encryptToFlag,
    "encrypt-to-file": encryptToFileFlag,
    "encrypt-passphrase-file": encryptPassphraseFileFlag,
    kubeconfig: kubeconfigFlag,
    context: contextFlag,
    "velero-namespace": veleroNamespaceFlag,
  },
  details:
    "The snapshot streams from etcd through a sha256, compression and (with --encrypt-to) age encryption into the store, in constant memory. " +
    "Its record (revision, cluster and member id, etcd version, sizes, hashes) is stored beside it as <name>.json and printed as JSON.",
  async run({ values }, io) {
    if (!values.endpoints) throw new UsageError("etcd snapshot needs --endpoints (e.g. https://127.0.0.1:2379)");
    const compression = SNAPSHOT_COMPRESSIONS.find((c) => c === values.compression);
    if (!compression) throw new UsageError(`--compression must be one of ${SNAPSHOT_COMPRESSIONS.join(", ")} (got "${values.compression}")`);
    return (await import("../etcd-command.js")).etcdSnapshotCommand(
      {
        endpoints: parseEndpoints("--endpoints", values.endpoints),
        store: values.store,
        name: values.name ?? `etcd-${new Date().toISOString().replace(/[:.]/g, "-")}`,
        veleroNamespace: values["velero-namespace"],
        env: io.env,
        compression,
        readBack: values["read-back"] ?? false,
        ...clusterOptions(values),
        ...(values.cacert ? { caFile: values.cacert } : {}),
        ...(values.cert ? { certFile: values.cert } : {}),
        ...(values.key ? { keyFile: values.key } : {}),
        ...(values.etcdutl ? { etcdutl: values.etcdutl } : {}),
        ...(values["encrypt-to"] ? { encryptTo: values["encrypt-to"] } : {}),
        ...(values["encrypt-to-file"] ? { encryptToFiles: values["encrypt-to-file"] } : {}),
        ...(values["encrypt-passphrase-file"] ? { encryptPassphraseFile: values["encrypt-passphrase-file"] } : {}),
      },
      io,
    );
  },
});
