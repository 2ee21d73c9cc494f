// The pair record: one per Velero backup, stored beside its etcd snapshot so that the pair survives the loss
// of the cluster. Versioned JSON; keys pairs/<backup uid>.json and snapshots/<backup uid>/<writer>.db.zst (a pair
// that shares another backup's snapshot names that key in snapshot.key: always read the key from the record).
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
  /**
   * The apiserver URL(s) the coordinator reached this cluster at. `restore plan` probes them: only when they refuse
   * or time out is the control plane taken for lost (a typo in a kubeconfig is not evidence of that).
   */
  apiserverEndpoints?: string[];
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
  /**
   * What the etcd snapshot holds that the Velero backup does not (as `twinsnap pairs diff` reports it), checked once
   * the pair is Paired: a schedule that keeps missing something shows it here and in twinsnap_backup_missed_objects.
   */
  coverage?: PairCoverage;
  coordinatorVersion: string;
  updatedAt: string;
  /** When the coordinator first found the backup gone from the cluster; retention removes the pair a grace period later. */
  orphanedSince?: string;
}

export type PairCoverage =
  | { missed: number; neverBackedUp: number; undecodable: number; byReason: Record<string, number>; revision: number; checkedAt: string }
  | { error: string; checkedAt: string };

export const pairKey = (backupUid: string) => `pairs/${backupUid}.json`;
/**
 * Where a coordinator puts the snapshot it takes for a backup: a key of its own per writer, so that a replica that
 * lost its lease while its upload hung can finish that upload without replacing the new leader's snapshot (the
 * fence: only the key the record names is the pair's). Retention removes the keys no record names.
 */
export const snapshotKey = (backupUid: string, writer: string) => `${snapshotDir(backupUid)}/${writer}.db.zst`;
/** Every snapshot any writer took for the backup is under this prefix. */
export const snapshotDir = (backupUid: string) => `snapshots/${backupUid}`;
/** Where releases before per-writer keys put a backup's snapshot: zstd, and gzip before that. */
export const legacySnapshotKeys = (backupUid: string) => [`snapshots/${backupUid}.db.zst`, `snapshots/${backupUid}.db.gz`];
/** The backup uid of a key a writer put under snapshotDir(uid); undefined for any other key. */
export function snapshotKeyOwner(key: string): string | undefined {
  return /^snapshots\/([^/]+)\/[^/]+$/.exec(key)?.[1];
}

const PAIR_STATES: readonly PairState[] = ["Pending", "Snapshotting", "Paired", "Failed", "BackupFailed"];

/** A stored record that cannot be used: not JSON, or JSON that is not a pair record (`{}`, `null`, `[]`...). */
export class DamagedRecordError extends Error {
  override readonly name = "DamagedRecordError";
  constructor(
    readonly key: string,
    readonly problem: string,
  ) {
    super(`damaged pair record ${key}: ${problem}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** What is wrong with a parsed record, field by field (empty: it is a record twinsnap can use). */
export function pairRecordProblems(value: unknown, expectedUid?: string): string[] {
  if (!isObject(value)) return [`not an object (${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value})`];
  const problems: string[] = [];
  const str = (obj: Record<string, unknown>, field: string, where: string) => {
    if (typeof obj[field] !== "string" || obj[field] === "") problems.push(`${where}${field} is not a non-empty string`);
  };
  if (value.apiVersion !== PAIR_RECORD_API_VERSION) problems.push(`apiVersion is ${JSON.stringify(value.apiVersion)}, not ${PAIR_RECORD_API_VERSION}`);
  if (value.kind !== "PairRecord") problems.push(`kind is ${JSON.stringify(value.kind)}, not PairRecord`);
  if (!PAIR_STATES.includes(value.state as PairState)) problems.push(`state ${JSON.stringify(value.state)} is not one of ${PAIR_STATES.join(", ")}`);
  str(value, "clusterIdentity", "");
  if (!isObject(value.backup)) problems.push("backup is missing");
  else {
    for (const f of ["name", "namespace", "uid"]) str(value.backup, f, "backup.");
    if (typeof value.backup.phase !== "string") problems.push("backup.phase is not a string");
    if (expectedUid !== undefined && typeof value.backup.uid === "string" && value.backup.uid !== expectedUid) problems.push(`backup.uid ${value.backup.uid} does not match its key (${expectedUid})`);
  }
  if (value.snapshot !== undefined) {
    if (!isObject(value.snapshot)) problems.push("snapshot is not an object");
    else {
      for (const f of ["key", "revision", "snapshotSha256", "storedSha256"]) str(value.snapshot, f, "snapshot.");
      for (const f of ["snapshotBytes", "storedBytes"]) if (!Number.isSafeInteger(value.snapshot[f]) || (value.snapshot[f] as number) < 0) problems.push(`snapshot.${f} is not a byte count`);
    }
  }
  return problems;
}

/** The record stored under `key`, validated; a damaged one throws DamagedRecordError naming the key. */
export function parsePairRecord(text: string, key: string): PairRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new DamagedRecordError(key, `not JSON (${(err as Error).message})`);
  }
  const uid = /^pairs\/(.+)\.json$/.exec(key)?.[1];
  const problems = pairRecordProblems(value, uid);
  if (problems.length > 0) throw new DamagedRecordError(key, problems.join("; "));
  return value as PairRecord;
}
