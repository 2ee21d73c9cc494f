// A Velero backup against the etcd snapshot taken while it ran: every object of the snapshot the backup does not
// hold, with the reason (backup-coverage.ts), and apart what Velero never backs up by design. Streams both: the
// backup's items become a set of keys, the snapshot is read object by object.
import type { Readable } from "node:stream";
import type { SnapshotReader } from "../etcd/snapshot-keys.js";
import type { LocalKeys } from "../kube-storage/encryption.js";
import { snapshotObjects } from "../kube-storage/snapshot-objects.js";
import { readBackupItems } from "./backup-archive.js";
import { whyMissing, type BackupFilters, type MissReason } from "./backup-coverage.js";

export interface MissingObject {
  groupResource: string;
  namespace: string;
  name: string;
}

export interface BackupDiff {
  revision: number;
  counts: { snapshotObjects: number; backupItems: number; missed: number; neverBackedUp: number; undecodable: number };
  /** Objects the backup does not hold, by reason. */
  missed: Partial<Record<Exclude<MissReason, "never-backed-up">, MissingObject[]>>;
  neverBackedUp: MissingObject[];
  /** Values that could not be read (encrypted without a key, unknown types): judged by their etcd key only. */
  undecodable: (MissingObject & { reason: string })[];
}

const itemKey = (groupResource: string, namespace: string, name: string) => `${groupResource}\u0000${namespace}\u0000${name}`;

/** The items of a backup tarball, as keys. */
export async function backupItemKeys(tarGz: Readable): Promise<Set<string>> {
  const held = new Set<string>();
  for await (const item of readBackupItems(tarGz)) held.add(itemKey(item.groupResource, item.namespace, item.name));
  return held;
}

export async function diffBackup(input: { reader: SnapshotReader; held: Set<string>; filters: BackupFilters; keys?: LocalKeys }): Promise<BackupDiff> {
  const diff: BackupDiff = {
    revision: await input.reader.revision(),
    counts: { snapshotObjects: 0, backupItems: input.held.size, missed: 0, neverBackedUp: 0, undecodable: 0 },
    missed: {},
    neverBackedUp: [],
    undecodable: [],
  };
  for await (const o of snapshotObjects(input.reader, input.keys ? { keys: input.keys } : {})) {
    if ("internal" in o) continue;
    diff.counts.snapshotObjects++;
    if (input.held.has(itemKey(o.groupResource, o.namespace, o.name))) continue;
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
      input.filters,
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
  return diff;
}

/** What the pair record keeps: counts, by reason. */
export function coverageSummary(diff: BackupDiff): { missed: number; neverBackedUp: number; undecodable: number; byReason: Record<string, number>; revision: number } {
  return {
    missed: diff.counts.missed,
    neverBackedUp: diff.counts.neverBackedUp,
    undecodable: diff.counts.undecodable,
    byReason: Object.fromEntries(Object.entries(diff.missed).map(([r, l]) => [r, l.length])),
    revision: diff.revision,
  };
}
