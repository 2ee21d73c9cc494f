// `twinsnap pairs diff BACKUP`: every object the backup's etcd snapshot holds that the Velero backup does not,
// grouped by why (Velero's filters, timing), and apart from them what Velero never backs up by design.
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import yaml from "js-yaml";
import { parseEncryptionConfig } from "../kube-storage/encryption.js";
import { loadClusterConnection } from "../kube/kubeconfig.js";
import { rawClient } from "../kube/raw-client.js";
import { backupItemKeys, diffBackup, type BackupDiff, type MissingObject } from "../velero/backup-diff.js";
import { backupFilters, REASON_TEXT, type BackupFilters, type MissReason } from "../velero/backup-coverage.js";
import { awsEnvironment, type CliStoreOptions } from "./cli-store.js";
import { openSnapshot } from "./snapshot-file.js";
import { UsageError } from "./usage-error.js";
import { veleroBackupFiles, type VeleroBackupFiles } from "./velero-backup-files.js";
import { veleroPath } from "../velero/velero-api.js";
import { formatReport } from "./report.js";

type Io = { out: (s: string) => void; err: (s: string) => void };

export interface PairsDiffOptions extends Omit<CliStoreOptions, "client"> {
  backup: string;
  output: "table" | "json" | "yaml";
  /** The backup's tarball (`velero backup download`); else read from the BackupStorageLocation (bsl: stores). */
  fromBackup?: string;
  /** The Backup object (velero-backup.json or `kubectl get backup -o yaml`); else from the location or the cluster. */
  backupSpec?: string;
  snapshotFile?: string;
  encryptionConfig?: string;
  /** --identity: age identity files, or secret:NAMESPACE/NAME[/KEY]; --passphrase-file: files or secret:NAMESPACE/NAME/KEY. */
  identities?: string[];
  passphraseFiles?: string[];
}

export interface PairDiff extends Omit<BackupDiff, "revision"> {
  backup: string;
  snapshot: { source: string; revision: number };
  filters: { source: string; spec: BackupFilters };
}

async function withClient<T>(opts: PairsDiffOptions, use: (client: ReturnType<typeof rawClient>) => Promise<T>): Promise<T> {
  const client = rawClient(await loadClusterConnection({ env: opts.env, ...(opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig } : {}) }));
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

export async function computePairDiff(opts: PairsDiffOptions, io: Io): Promise<PairDiff> {
  const location: VeleroBackupFiles | undefined =
    !opts.fromBackup && opts.store.startsWith("bsl:")
      ? await withClient(opts, (client) => veleroBackupFiles({ client, veleroNamespace: opts.veleroNamespace, bsl: opts.store.slice(4), aws: awsEnvironment(opts.env) }))
      : undefined;
  if (!opts.fromBackup && !location) {
    throw new UsageError(`the backup's contents are read from its BackupStorageLocation (--store bsl:NAME) or a tarball: give --from-backup FILE (velero backup download ${opts.backup})`);
  }
  try {
    // The Backup object: its filters and start time.
    let backupObject: unknown;
    let filterSource: string;
    if (opts.backupSpec) {
      backupObject = yaml.load(await readFile(opts.backupSpec, "utf8"));
      filterSource = opts.backupSpec;
    } else if (location) {
      backupObject = await location.backupObject(opts.backup);
      filterSource = "velero-backup.json in the backup storage location";
    } else if (opts.kubeconfig) {
      backupObject = await withClient(opts, (client) => client.get(veleroPath(opts.veleroNamespace, "backups", opts.backup)));
      filterSource = "the Backup object in the cluster";
    } else {
      backupObject = { spec: {} };
      filterSource = "none given: Velero's defaults assumed (give --backup-spec FILE or --kubeconfig)";
      io.err(`warning: no Backup object for ${opts.backup}; judging with Velero's default filters\n`);
    }
    if (!backupObject || typeof backupObject !== "object") throw new UsageError(`${filterSource}: not a Velero Backup object`);
    const filters = backupFilters(backupObject as { spec?: Record<string, unknown> });
    const held = await backupItemKeys(opts.fromBackup ? createReadStream(opts.fromBackup) : await location!.tarball(opts.backup));
    const keys = opts.encryptionConfig ? parseEncryptionConfig(await readFile(opts.encryptionConfig, "utf8"), opts.encryptionConfig) : undefined;
    const snapshot = await openSnapshot({ ...opts, ...(opts.snapshotFile ? { snapshotFile: opts.snapshotFile } : { backup: opts.backup }) });
    try {
      const { revision, ...rest } = await diffBackup({ reader: snapshot.reader, held, filters, ...(keys ? { keys } : {}) });
      return { backup: opts.backup, snapshot: { source: snapshot.source, revision }, filters: { source: filterSource, spec: filters }, ...rest };
    } finally {
      await snapshot.close();
    }
  } finally {
    location?.close();
  }
}

const refText = (o: MissingObject) => `${o.groupResource}  ${o.namespace ? `${o.namespace}/` : ""}${o.name}`;

export async function pairsDiffCommand(opts: PairsDiffOptions, io: Io): Promise<number> {
  const diff = await computePairDiff(opts, io);
  if (opts.output !== "table") {
    io.out(formatReport(opts.output, diff, () => ""));
    return 0;
  }
  const lines = [
    `backup ${diff.backup}: ${diff.counts.backupItems} items; its etcd snapshot (revision ${diff.snapshot.revision}): ${diff.counts.snapshotObjects} objects`,
    `filters from ${diff.filters.source}`,
    `${diff.counts.missed} object(s) not in the backup${diff.counts.undecodable ? ` (${diff.counts.undecodable} judged by their etcd key only: encrypted or undecodable)` : ""}`,
  ];
  for (const [reason, objects] of Object.entries(diff.missed) as [MissReason, MissingObject[]][]) {
    lines.push("", `${REASON_TEXT[reason]}: ${objects.length}`);
    for (const o of objects) lines.push(`  ${refText(o)}`);
  }
  lines.push("", `never backed up by design (nodes, events, Velero's own, ...): ${diff.counts.neverBackedUp}`);
  const byResource = new Map<string, number>();
  for (const o of diff.neverBackedUp) byResource.set(o.groupResource, (byResource.get(o.groupResource) ?? 0) + 1);
  for (const [r, n] of [...byResource].sort()) lines.push(`  ${r}: ${n}`);
  io.out(`${lines.join("\n")}\n`);
  return 0;
}
