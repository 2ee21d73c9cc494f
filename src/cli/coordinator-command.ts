// `twinsnap coordinator`: the composition root of the coordinator service. Runs until SIGTERM or SIGINT.
import { Coordinator } from "../coordinator/coordinator.js";
import { loadRecipients } from "../etcd/snapshot-encryption.js";
import { encryptionPassphrase } from "./age-keys.js";
import { CoordinatorMetrics, serveMetrics } from "../coordinator/metrics.js";
import { LeaderElector } from "../coordinator/leader-election.js";
import { hostname } from "node:os";
import { connectEtcd, type EtcdConnectionOptions } from "../etcd/etcd-client.js";
import { IN_CLUSTER_SOURCE, loadClusterConnection } from "../kube/kubeconfig.js";
import { apiserverEndpoints } from "../kube/apiserver-endpoints.js";
import { rawClient } from "../kube/raw-client.js";
import { createLogger, parseLogLevel } from "../log/logger.js";
import { awsEnvironment, openCliStore } from "./cli-store.js";
import { backupFilters } from "../velero/backup-coverage.js";
import { backupItemKeys, coverageSummary, diffBackup } from "../velero/backup-diff.js";
import { openStoredSnapshot } from "./snapshot-file.js";
import { veleroBackupFiles } from "./velero-backup-files.js";
import { VERSION } from "../version.js";
import { UsageError } from "./usage-error.js";

export interface CoordinatorCommandOptions {
  kubeconfig?: string;
  context?: string;
  veleroNamespace: string;
  etcd: EtcdConnectionOptions;
  store: string;
  concurrency: number;
  /** Backups started within this window share one snapshot (0: off). */
  shareWindowMs: number;
  logLevel?: string;
  /** host:port for /metrics, /healthz and /readyz ("127.0.0.1:8080" by default; ":8080" listens on every address). */
  metricsAddress: string;
  /** Take a Lease in Velero's namespace first, so replicas never pair at once (default on). */
  leaderElect: boolean;
  /** How long a pair outlives its deleted backup (default 1 hour). */
  retentionGraceMs?: number;
  env: Readonly<Record<string, string | undefined>>;
  /** age recipients (--encrypt-to) and recipients files (--encrypt-to-file, e.g. a mounted ConfigMap). */
  encryptTo?: string[];
  encryptToFiles?: string[];
  /** --encrypt-passphrase-file: a file or secret:NAMESPACE/NAME/KEY holding the passphrase (age -p). */
  encryptPassphraseFile?: string;
}

export async function coordinatorCommand(opts: CoordinatorCommandOptions): Promise<number> {
  const log = createLogger({ level: parseLogLevel(opts.logLevel), format: "text" });
  const recipients = await loadRecipients(opts.encryptTo ?? [], opts.encryptToFiles ?? []);
  const connection = await loadClusterConnection({ env: opts.env, ...(opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig } : {}), ...(opts.context ? { context: opts.context } : {}) });
  const client = rawClient(connection);
  const passphrase = await encryptionPassphrase({ ...opts, client }, recipients);
  // --etcd-endpoints none: a managed control plane; pairs say so instead of failing.
  const etcd = opts.etcd.endpoints.length === 1 && opts.etcd.endpoints[0] === "none" ? undefined : connectEtcd(opts.etcd);
  const store = await openCliStore({ store: opts.store, env: opts.env, veleroNamespace: opts.veleroNamespace, client });
  const metrics = new CoordinatorMetrics();
  const [host, port] = splitAddress(opts.metricsAddress);
  const http = await serveMetrics(metrics, { host, port });
  const etcdSource = etcd ?? { unavailable: "etcd is not reachable from this cluster (managed control plane; --etcd-endpoints none)" };
  // With Velero's own location as the store, each Paired backup is compared with its snapshot (pairs diff).
  const files = opts.store.startsWith("bsl:") ? await veleroBackupFiles({ client, veleroNamespace: opts.veleroNamespace, bsl: opts.store.slice(4), aws: awsEnvironment(opts.env) }) : undefined;
  const elector = opts.leaderElect ? new LeaderElector({ client, namespace: opts.veleroNamespace, name: "twinsnap-coordinator", identity: `${hostname()}_${process.pid}`, log }) : undefined;
  const coordinator = new Coordinator({ client, store, etcd: etcdSource, veleroNamespace: opts.veleroNamespace, log, version: VERSION, concurrency: opts.concurrency, shareWindowMs: opts.shareWindowMs, metrics,
    apiserverEndpoints: await apiserverEndpoints(client, connection.server, { inCluster: connection.source === IN_CLUSTER_SOURCE }),
    ...(elector ? { mayWrite: () => elector.holdsLease() } : {}),
    ...(recipients.length > 0 ? { encryptTo: recipients } : {}),
    ...(passphrase !== undefined ? { encryptPassphrase: passphrase } : {}),
    ...(opts.retentionGraceMs !== undefined ? { retentionGraceMs: opts.retentionGraceMs } : {}),
    ...(files
      ? {
          checkCoverage: async (record) => {
            const filters = backupFilters((await files.backupObject(record.backup.name)) as { spec?: Record<string, unknown> });
            const held = await backupItemKeys(await files.tarball(record.backup.name));
            const snapshot = await openStoredSnapshot(store, record.snapshot!.key, record, passphrase !== undefined ? [{ passphrase }] : []);
            try {
              return coverageSummary(await diffBackup({ reader: snapshot.reader, held, filters }));
            } finally {
              await snapshot.close();
            }
          },
        }
      : {}),
  });
  const abort = new AbortController();
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => abort.abort());
  log.info("coordinator started", { cluster: connection.source, veleroNamespace: opts.veleroNamespace, store: store.url, etcd: etcd ? opts.etcd.endpoints.join(",") : "none", shareWindowSeconds: opts.shareWindowMs / 1000 });
  try {
    if (elector) {
      // A standby replica is healthy and ready: it is there to take over.
      metrics.ready = true;
      await elector.run(abort.signal, (leading) => coordinator.start(leading));
    } else {
      await coordinator.start(abort.signal);
    }
  } finally {
    etcd?.close();
    client.close();
    store.close?.();
    files?.close();
    http.close();
  }
  log.info("coordinator stopped");
  return 0;
}

/** "host:port", ":port" (every address) or "[::1]:port". */
export function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(":");
  const portText = address.slice(i + 1);
  const port = Number(portText);
  if (i < 0 || !/^\d+$/.test(portText) || port > 65535) throw new UsageError(`--metrics-address must be host:port or :port, not "${address}"`);
  return [address.slice(0, i).replace(/^\[(.*)\]$/, "$1") || "0.0.0.0", port];
}
