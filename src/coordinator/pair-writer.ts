// What the coordinator writes about a backup: its pair record in the store (with this cluster's identity, read once
// and kept only when the read succeeds) and the record's gist as annotations on the Backup. Every write is fenced:
// a replica that may no longer write (it lost its lease, or it is stopping) writes nothing.
import type { RawClient } from "../kube/raw-client.js";
import type { Logger } from "../log/logger.js";
import { PAIR_RECORD_API_VERSION, pairKey, type BackupRef, type PairRecord, type PairState } from "../pairs/pair-record.js";
import { writePairRecord } from "../pairs/pair-store.js";
import type { ObjectStore } from "../store/object-store.js";
import { CLUSTER_IDENTITY_PATH, clusterIdentityOf, veleroPath, type VeleroBackup } from "../velero/velero-api.js";
import type { CoordinatorMetrics } from "./metrics.js";

export const ANNOTATIONS = {
  state: "twinsnap.dev/pair-state",
  reason: "twinsnap.dev/pair-reason",
  record: "twinsnap.dev/pair-record",
  revision: "twinsnap.dev/etcd-revision",
  sha256: "twinsnap.dev/snapshot-sha256",
} as const;

export interface PairWriterOptions {
  client: RawClient;
  store: ObjectStore;
  log: Logger;
  metrics?: CoordinatorMetrics;
  version: string;
  apiserverEndpoints?: string[];
  now: () => Date;
  /** Fencing: still the leader, and not stopping. */
  mayWrite: () => boolean;
}

export class PairWriter {
  private identity?: Promise<string>;

  constructor(private readonly opts: PairWriterOptions) {}

  /** The record as the Backup is now, with `fields`; undefined when this replica may not write. */
  async write(backup: VeleroBackup, fields: Partial<PairRecord> & { state: PairState }): Promise<PairRecord | undefined> {
    if (!this.opts.mayWrite()) return undefined; // stopping, or no longer the leader: the next coordinator writes
    const record: PairRecord = {
      apiVersion: PAIR_RECORD_API_VERSION,
      kind: "PairRecord",
      clusterIdentity: await this.clusterIdentity(),
      coordinatorVersion: this.opts.version,
      ...(this.opts.apiserverEndpoints?.length ? { apiserverEndpoints: this.opts.apiserverEndpoints } : {}),
      ...fields,
      // The Backup as it is now, not as an earlier record saw it: a Paired record says Completed, with its end.
      backup: backupRef(backup),
      updatedAt: this.opts.now().toISOString(),
    } as PairRecord;
    if (fields.state !== "Failed" && fields.state !== "BackupFailed") delete record.reason;
    if (!fields.snapshot) delete record.sharedSnapshot;
    // Checked again right before the write (the identity lookup above may have taken a while): fencing.
    if (!this.opts.mayWrite()) return;
    await writePairRecord(this.opts.store, record);
    this.opts.metrics?.recordWritten(record);
    await this.mirror(backup, record);
    this.opts.log.info("pair record", { backup: backup.metadata.name, state: record.state, ...(record.reason ? { reason: record.reason } : {}) });
    return record;
  }

  /** The record's gist as annotations on the Backup, for `kubectl get backup -o yaml`. */
  async mirror(backup: VeleroBackup, record: PairRecord): Promise<void> {
    if (!this.opts.mayWrite()) return;
    const annotations: Record<string, string | null> = {
      [ANNOTATIONS.state]: record.state,
      [ANNOTATIONS.reason]: record.reason ?? null,
      [ANNOTATIONS.record]: `${this.opts.store.url}/${pairKey(record.backup.uid)}`,
      [ANNOTATIONS.revision]: record.snapshot?.revision ?? (record.etcd ? "unavailable" : null),
      [ANNOTATIONS.sha256]: record.snapshot?.snapshotSha256 ?? null,
    };
    try {
      await this.opts.client.send("PATCH", veleroPath(backup.metadata.namespace, "backups", backup.metadata.name), { metadata: { annotations } }, "application/merge-patch+json");
    } catch (err) {
      // The record in the store is what counts; a Backup deleted meanwhile simply has nothing to annotate.
      this.opts.log.warn("could not annotate the Backup", { backup: backup.metadata.name, error: (err as Error).message });
    }
  }

  /** The kube-system namespace uid. Only a success is kept: a failed lookup is tried again on the next use. */
  clusterIdentity(): Promise<string> {
    this.identity ??= this.opts.client.get<{ metadata?: { uid?: string } }>(CLUSTER_IDENTITY_PATH).then((ns) => {
      const uid = clusterIdentityOf(ns);
      if (uid === undefined) throw new Error("the kube-system namespace has no uid to identify the cluster by (not found, or not readable)");
      return uid;
    });
    const pending = this.identity;
    pending.catch(() => {
      if (this.identity === pending) this.identity = undefined;
    });
    return pending;
  }
}

function backupRef(b: VeleroBackup): BackupRef {
  return {
    name: b.metadata.name,
    namespace: b.metadata.namespace,
    uid: b.metadata.uid,
    phase: b.status?.phase ?? "",
    ...(b.metadata.labels?.["velero.io/schedule-name"] ? { schedule: b.metadata.labels["velero.io/schedule-name"] } : {}),
    ...(b.spec?.storageLocation ? { storageLocation: b.spec.storageLocation } : {}),
    ...(b.status?.startTimestamp ? { startTimestamp: b.status.startTimestamp } : {}),
    ...(b.status?.completionTimestamp ? { completionTimestamp: b.status.completionTimestamp } : {}),
  };
}
