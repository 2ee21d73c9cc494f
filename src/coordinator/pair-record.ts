// The pair record: one per Velero backup, stored beside its etcd snapshot so that the pair survives the loss
// of the cluster. Versioned JSON; keys pairs/<backup uid>.json and snapshots/<backup uid>.db.gz (a pair that shares
// another backup's snapshot names that key in snapshot.key: always read the key from the record).
import type { SnapshotRecord } from "../etcd/snapshot.js";

export const PAIR_RECORD_API_VERSION = "twinsnap.dev/v1alpha1";

/**
 * Pending       the backup exists but has not started
 * Snapshotting  the backup runs; the snapshot is being taken, or is taken and waits for the backup to finish
 * Paired        the backup finished (Completed or PartiallyFailed) and its snapshot is stored and verified
 * Failed        no snapshot could be taken (reason says why); the backup itself may be fine
 * BackupFailed  Velero's backup failed; the snapshot, if taken, is kept until retention removes it
 */
export type PairState = "Pending" | "Snapshotting" | "Paired" | "Failed" | "BackupFailed";

export interface BackupRef {
  name: string;
  namespace: string;
  uid: string;
  schedule?: string;
  storageLocation?: string;
  phase: string;
  startTimestamp?: string;
  completionTimestamp?: string;
}

export interface PairRecord {
  apiVersion: typeof PAIR_RECORD_API_VERSION;
  kind: "PairRecord";
  backup: BackupRef;
  state: PairState;
  reason?: string;
  /** The kube-system namespace uid: tells the same cluster from a new one at restore time. */
  clusterIdentity: string;
  snapshot?: SnapshotRecord;
  /**
   * Set on clusters whose etcd the coordinator cannot reach by design (managed control planes): the pair
   * holds the Velero backup and says why there is no snapshot, instead of failing.
   */
  etcd?: { available: false; reason: string };
  /**
   * Set when `snapshot` was taken for another backup that Velero started within --share-window of this one (a
   * burst): several pairs then reference one snapshot object, and retention keeps it while any of them does.
   */
  sharedSnapshot?: { key: string; takenFor: { name: string; uid: string }; windowSeconds: number };
  /** "during-backup", or "after-backup" when the coordinator only saw the backup once it had finished. */
  snapshotTiming?: "during-backup" | "after-backup";
  coordinatorVersion: string;
  updatedAt: string;
  /** When the coordinator first found the backup gone from the cluster; retention removes the pair a grace period later. */
  orphanedSince?: string;
}

export const pairKey = (backupUid: string) => `pairs/${backupUid}.json`;
/** Where the coordinator puts a backup's snapshot (zstd); `legacySnapshotKey` is where releases before zstd did. */
export const snapshotKey = (backupUid: string) => `snapshots/${backupUid}.db.zst`;
export const legacySnapshotKey = (backupUid: string) => `snapshots/${backupUid}.db.gz`;
