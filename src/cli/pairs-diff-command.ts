// `twinsnap pairs diff BACKUP`: every object the backup's etcd snapshot holds that the Velero backup does not,
// grouped by why (Velero's filters, timing), and apart from them what Velero never backs up by design.
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import type { Readable } from "node:stream";
import yaml from "js-yaml";
import { parseEncryptionConfig } from "../kube-storage/encryption.js";
import { snapshotObjects } from "../kube-storage/snapshot-objects.js";
import { loadClusterConnection } from "../kube/kubeconfig.js";
import { rawClient } from "../kube/raw-client.js";
import { resolveBackupStorageLocation } from "../store/backup-storage-location.js";
import { awsEnvironment, type CliStoreOptions } from "./cli-store.js";
import { backupFilters, REASON_TEXT, whyMissing, type BackupFilters, type MissReason } from "../velero/backup-coverage.js";
import { readBackupItems } from "../velero/backup-archive.js";
import { openSnapshot } from "./snapshot-file.js";
import { UsageError } from "./usage-error.js";

type Io = { out: (s: string) => void; err: (s: string) => void };

export interface PairsDiffOptions extends Omit<CliStoreOptions, "client"> {
  backup: string;
  output: "table" | "json";
  /** The backup's tarball (`velero backup download`); else read from the BackupStorageLocation (bsl: stores). */
  fromBackup?: string;
  /** The Backup object (velero-backup.json or `kubectl get backup -o yaml`); else from the location or the cluster. */
  backupSpec?: string;
  snapshotFile?: string;
  encryptionConfig?: string;
}

export interface MissingObject {
  groupResource: string;
  namespace: string;
  name: string;
}

export interface PairDiff {
  backup: string;
  snapshot: { source: string; revision: number };
  filters: { source: string; spec: BackupFilters };
  counts: { snapshotObjects: number; backupItems: number; missed: number; neverBackedUp: number; undecodable: number };
  /** Objects the backup should be expected to hold but does not, by reason. */
  missed: Partial<Record<Exclude<MissReason, "never-backed-up">, MissingObject[]>>;
  neverBackedUp: MissingObject[];
  /** Values that could not be read (encrypted without a key, unknown types): judged by their key alone. */
  undecodable: (MissingObject & { reason: string })[];
}

const itemKey = (groupResource: string, namespace: string, name: string) => `${groupResource}\u0000${namespace}\u0000${name}`;

/** The Velero backup's tarball and Backup object from its BackupStorageLocation (`bsl:NAME` store): backups/NAME/. */
async function fromLocation(opts: PairsDiffOptions, bslName: string): Promise<{ tarball: () => Promise<Readable>; backupObject: () => Promise<unknown> }> {
  const client = rawClient(await loadClusterConnection({ env: opts.env, ...(opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig } : {}) }));
  let options;
  try {
    const aws = awsEnvironment(opts.env);
    options = await resolveBackupStorageLocation({ client, namespace: opts.veleroNamespace, name: bslName, ...(aws.sharedCredentialsFile ? { credentialsFile: aws.sharedCredentialsFile } : {}) });
  } finally {
    client.close();
  }
  const { S3Store } = await import("../store/s3-store.js");
  // Velero's own layout sits beside twinsnap's plugins/twinsnap/ directory.
  const store = new S3Store({ ...options, prefix: options.prefix.replace(/\/?plugins\/twinsnap$/, "") });
  const dir = `backups/${opts.backup}`;
  return {
    tarball: () => store.get(`${dir}/${opts.backup}.tar.gz`),
    backupObject: async () => {
      const chunks: Buffer[] = [];
      for await (const c of await store.get(`${dir}/velero-backup.json`)) chunks.push(c as Buffer);
      return JSON.parse(Buffer.concat(chunks).toString("utf8"));
    },
  };
}

async function liveBackupObject(opts: PairsDiffOptions): Promise<unknown> {
  const client = rawClient(await loadClusterConnection({ env: opts.env, ...(opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig } : {}) }));
  try {
    return await client.get(`/apis/velero.io/v1/namespaces/${encodeURIComponent(opts.veleroNamespace)}/backups/${encodeURIComponent(opts.backup)}`);
  } finally {
    client.close();
  }
}

export async function computePairDiff(opts: PairsDiffOptions, io: Io): Promise<PairDiff> {
  const location = !opts.fromBackup && opts.store.startsWith("bsl:") ? await fromLocation(opts, opts.store.slice(4)) : undefined;
  if (!opts.fromBackup && !location) {
    throw new UsageError(`the backup's contents are read from its BackupStorageLocation (--store bsl:NAME) or a tarball: give --from-backup FILE (velero backup download ${opts.backup})`);
  }
  // The Backup object: its filters and start time.
  let backupObject: unknown;
  let filterSource: string;
  if (opts.backupSpec) {
    backupObject = yaml.load(await readFile(opts.backupSpec, "utf8"));
    filterSource = opts.backupSpec;
  } else if (location) {
    backupObject = await location.backupObject();
    filterSource = "velero-backup.json in the backup storage location";
  } else if (opts.kubeconfig) {
    backupObject = await liveBackupObject(opts);
    filterSource = "the Backup object in the cluster";
  } else {
    backupObject = { spec: {} };
    filterSource = "none given: Velero's defaults assumed (give --backup-spec FILE or --kubeconfig)";
    io.err(`warning: no Backup object for ${opts.backup}; judging with Velero's default filters\n`);
  }
  if (!backupObject || typeof backupObject !== "object") throw new UsageError(`${filterSource}: not a Velero Backup object`);
  const filters = backupFilters(backupObject as { spec?: Record<string, unknown> });

  // What the backup holds, streamed once into a set of keys.
  const held = new Set<string>();
  const tarball = opts.fromBackup ? createReadStream(opts.fromBackup) : await location!.tarball();
  for await (const item of readBackupItems(tarball)) held.add(itemKey(item.groupResource, item.namespace, item.name));

  const keys = opts.encryptionConfig ? parseEncryptionConfig(await readFile(opts.encryptionConfig, "utf8"), opts.encryptionConfig) : undefined;
  const snapshot = await openSnapshot({ ...opts, ...(opts.snapshotFile ? { snapshotFile: opts.snapshotFile } : { backup: opts.backup }) });
  const diff: PairDiff = {
    backup: opts.backup,
    snapshot: { source: snapshot.source, revision: 0 },
    filters: { source: filterSource, spec: filters },
    counts: { snapshotObjects: 0, backupItems: held.size, missed: 0, neverBackedUp: 0, undecodable: 0 },
    missed: {},
    neverBackedUp: [],
    undecodable: [],
  };
  try {
    diff.snapshot.revision = await snapshot.reader.revision();
    for await (const o of snapshotObjects(snapshot.reader, keys ? { keys } : {})) {
      if ("internal" in o) continue;
      diff.counts.snapshotObjects++;
      if (held.has(itemKey(o.groupResource, o.namespace, o.name))) continue;
      const meta = o.value.state === "object" ? (o.value.object.metadata as { labels?: Record<string, string>; creationTimestamp?: string; deletionTimestamp?: string }) : undefined;
      const ref: MissingObject = { groupResource: o.groupResource, namespace: o.namespace, name: o.name };
      const reason = whyMissing(
        {
          groupResource: o.groupResource,
          resource: o.resource,
          namespace: o.namespace,
          name: o.name,
          labels: meta?.labels ?? {},
          decoded: meta !== undefined,
          ...(meta?.creationTimestamp ? { creationTimestamp: meta.creationTimestamp } : {}),
          ...(meta?.deletionTimestamp ? { deletionTimestamp: meta.deletionTimestamp } : {}),
        },
        filters,
      );
      if (o.value.state !== "object") {
        diff.counts.undecodable++;
        diff.undecodable.push({ ...ref, reason: o.value.state === "encrypted" ? `encrypted at rest (${o.value.provider} "${o.value.keyName}")` : o.value.reason });
      }
      if (reason === "never-backed-up") {
        diff.counts.neverBackedUp++;
        diff.neverBackedUp.push(ref);
      } else {
        diff.counts.missed++;
        (diff.missed[reason] ??= []).push(ref);
      }
    }
  } finally {
    await snapshot.close();
  }
  return diff;
}

const refText = (o: MissingObject) => `${o.groupResource}  ${o.namespace ? `${o.namespace}/` : ""}${o.name}`;

export async function pairsDiffCommand(opts: PairsDiffOptions, io: Io): Promise<number> {
  const diff = await computePairDiff(opts, io);
  if (opts.output === "json") {
    io.out(`${JSON.stringify(diff, null, 2)}\n`);
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
