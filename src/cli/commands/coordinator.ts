import { command } from "../command.js";
import { clusterOptions, contextFlag, encryptPassphraseFileFlag, encryptToFileFlag, encryptToFlag, kubeconfigFlag, storeFlag, veleroNamespaceFlag } from "../common-flags.js";
import { parseDuration, parseEndpoints, parsePositiveInteger } from "../parse-flags.js";
import { UsageError } from "../usage-error.js";

export const coordinator = command({
  path: ["coordinator"],
  summary: "pair every Velero backup with a verified etcd snapshot (runs until stopped)",
  flags: {
    "etcd-endpoints": { type: "string", value: "URL[,URL]", help: 'etcd\'s client URLs (required); "none" on a managed control plane (pairs record why there is no snapshot)' },
    "etcd-cacert": { type: "string", value: "FILE", help: "the CA that signed etcd's server certificate" },
    "etcd-cert": { type: "string", value: "FILE", help: "a client certificate etcd accepts" },
    "etcd-key": { type: "string", value: "FILE", help: "its key" },
    store: storeFlag,
    "velero-namespace": veleroNamespaceFlag,
    kubeconfig: kubeconfigFlag,
    context: contextFlag,
    concurrency: { type: "string", value: "N", default: "2", help: "snapshots taken at once (each streams the whole database)" },
    "share-window": { type: "string", value: "DURATION", default: "0", help: "backups Velero starts within this long of a snapshot's backup share that snapshot (0: each its own)" },
    "retention-grace": { type: "string", value: "DURATION", default: "1h", help: "how long a pair outlives its deleted backup" },
    "metrics-address": { type: "string", value: "HOST:PORT", default: "127.0.0.1:8080", help: "where /metrics, /healthz and /readyz answer" },
    "leader-elect": { type: "boolean", default: true, help: "one replica pairs at a time, through a Lease in the Velero namespace" },
    "no-leader-elect": { type: "boolean", help: "a single replica without a Lease" },
    "log-level": { type: "string", value: "LEVEL", help: "debug, info, warn or error (default info)" },
    "encrypt-to": encryptToFlag,
    "encrypt-to-file": encryptToFileFlag,
    "encrypt-passphrase-file": encryptPassphraseFileFlag,
  },
  details: "Records go to the store as pairs/<backup uid>.json beside the snapshot; their gist is mirrored on the Backup as twinsnap.dev/pair-* annotations. Stops on SIGTERM.",
  async run({ values }, io) {
    if (!values["etcd-endpoints"]) throw new UsageError("coordinator needs --etcd-endpoints");
    return (await import("../coordinator-command.js")).coordinatorCommand({
      veleroNamespace: values["velero-namespace"],
      store: values.store,
      concurrency: parsePositiveInteger("--concurrency", values.concurrency),
      shareWindowMs: parseDuration("--share-window", values["share-window"]),
      retentionGraceMs: parseDuration("--retention-grace", values["retention-grace"]),
      metricsAddress: values["metrics-address"],
      leaderElect: values["leader-elect"] && !values["no-leader-elect"],
      env: io.env,
      etcd: {
        endpoints: parseEndpoints("--etcd-endpoints", values["etcd-endpoints"]),
        ...(values["etcd-cacert"] ? { caFile: values["etcd-cacert"] } : {}),
        ...(values["etcd-cert"] ? { certFile: values["etcd-cert"] } : {}),
        ...(values["etcd-key"] ? { keyFile: values["etcd-key"] } : {}),
      },
      ...clusterOptions(values),
      ...(values["log-level"] ? { logLevel: values["log-level"] } : {}),
      ...(values["encrypt-to"] ? { encryptTo: values["encrypt-to"] } : {}),
      ...(values["encrypt-to-file"] ? { encryptToFiles: values["encrypt-to-file"] } : {}),
      ...(values["encrypt-passphrase-file"] ? { encryptPassphraseFile: values["encrypt-passphrase-file"] } : {}),
    });
  },
});
