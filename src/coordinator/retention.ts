// Retention: when Velero deletes a backup, its pair (record and snapshot) goes too, a grace period later. Only this
// install's pairs (this cluster, this Velero namespace), and only when no Backup of that name exists: after a
// cluster is lost, Velero's sync recreates Backups with new uids, and the old pairs are exactly what the new cluster
// needs. A snapshot goes with the last pair that names it; what no pair names (a replica finished it after losing
// its lease) goes once its pair is settled.
import type { Logger } from "../log/logger.js";
import { legacySnapshotKeys, pairKey, snapshotKeyOwner, type PairRecord } from "../pairs/pair-record.js";
import { listPairRecords, writePairRecord } from "../pairs/pair-store.js";
import type { ObjectStore } from "../store/object-store.js";
import type { CoordinatorMetrics } from "./metrics.js";

export interface RetentionOptions {
  store: ObjectStore;
  log: Logger;
  metrics?: CoordinatorMetrics;
  veleroNamespace: string;
  /** How long a pair outlives its deleted backup. */
  graceMs: number;
  now: () => Date;
  /** The kube-system namespace uid: whose pairs are ours. */
  clusterIdentity: () => Promise<string>;
  /** The names of the Backups that exist now (a fresh list). */
  listBackupNames: () => Promise<Set<string>>;
  /** A backup being reconciled right now: its pair is not touched. */
  busy: (uid: string) => boolean;
  /** Keys the snapshot registry holds (being shared or taken), and how it forgets a removed one. */
  snapshots: { inUse(key: string): boolean; forget(key: string): void };
  /** Fencing: still the leader. */
  mayWrite: () => boolean;
}

export class Retention {
  private pass: Promise<void> = Promise.resolve();

  constructor(private readonly opts: RetentionOptions) {}

  /**
   * One pass; `liveNames` when the caller has just listed the Backups. One pass at a time: two passes counting
   * references from their own listings could each keep a snapshot for the other's pair, and nobody would remove it.
   */
  collect(liveNames?: Set<string>): Promise<void> {
    const pass = this.pass.then(() => this.collectOnce(liveNames));
    this.pass = pass.catch(() => undefined);
    return pass;
  }

  /** A coordinator killed mid-snapshot leaves a partial file no later write of another key would remove. */
  async removeAbandonedPartials(): Promise<void> {
    try {
      const removed = (await this.opts.store.removeAbandonedPartials?.()) ?? [];
      if (removed.length > 0) this.opts.log.info("removed partial files left by an interrupted snapshot", { files: removed.join(",") });
    } catch (err) {
      this.opts.log.warn("could not remove abandoned partial files", { error: (err as Error).message });
    }
  }

  private async collectOnce(liveNames?: Set<string>): Promise<void> {
    const { store, log } = this.opts;
    await this.removeAbandonedPartials();
    let live = liveNames ?? (await this.opts.listBackupNames());
    const identity = await this.opts.clusterIdentity();
    const { records, damaged } = await listPairRecords(store);
    // What each backup's writers put under snapshotDir(uid): the key its record names, and any a replica that lost
    // its lease finished too late (never named).
    const written = new Map<string, string[]>();
    for (const key of await store.list("snapshots")) {
      const owner = snapshotKeyOwner(key);
      if (owner) written.set(owner, [...(written.get(owner) ?? []), key]);
    }
    // Reference counts over every record in the store, any cluster's: a snapshot goes with its last pair.
    const refs = new Map<string, Set<string>>();
    const reference = (key: string, uid: string) => refs.set(key, (refs.get(key) ?? new Set()).add(uid));
    for (const r of records) if (r.snapshot) reference(r.snapshot.key, r.backup.uid);
    for (const d of damaged) {
      const uid = d.key.slice("pairs/".length, -".json".length);
      // What a damaged record references is unknown: keep every snapshot taken for it, in either layout.
      for (const key of [...legacySnapshotKeys(uid), ...(written.get(uid) ?? [])]) reference(key, uid);
      log.warn("damaged pair record; retention leaves its snapshot alone", { key: d.key, error: d.error });
    }
    // Only this install's pairs: this cluster, this Velero namespace (two Velero installs may share a store).
    const ours = (r: PairRecord) => r.clusterIdentity === identity && r.backup.namespace === this.opts.veleroNamespace;
    await this.removeUnnamedSnapshots(records.filter(ours), written, refs);
    // A backup counts as gone only when a second, fresh list confirms it: one list that comes back short (a
    // transient empty answer, a cache being rebuilt) must not orphan every pair.
    if (records.some((r) => ours(r) && !r.orphanedSince && !live.has(r.backup.name) && !this.opts.busy(r.backup.uid))) {
      live = new Set([...live, ...(await this.opts.listBackupNames())]);
    }
    for (const record of records) {
      const uid = record.backup.uid;
      if (this.opts.busy(uid) || !ours(record) || live.has(record.backup.name)) continue;
      if (!this.opts.mayWrite()) return;
      if (!record.orphanedSince) {
        await writePairRecord(store, { ...record, orphanedSince: this.opts.now().toISOString() });
        log.info("backup deleted; its pair will be removed after the grace period", { backup: record.backup.name, graceSeconds: this.opts.graceMs / 1000 });
      } else if (this.opts.now().getTime() - Date.parse(record.orphanedSince) >= this.opts.graceMs) {
        const kept: string[] = [];
        for (const key of new Set([...legacySnapshotKeys(uid), ...(written.get(uid) ?? []), ...(record.snapshot ? [record.snapshot.key] : [])])) {
          refs.get(key)?.delete(uid);
          if ((refs.get(key)?.size ?? 0) > 0 || this.opts.snapshots.inUse(key)) {
            kept.push(key);
            continue;
          }
          this.opts.snapshots.forget(key);
          await store.delete(key);
        }
        await store.delete(pairKey(uid));
        this.opts.metrics?.recordRemoved(uid);
        log.info("removed the pair of a deleted backup", { backup: record.backup.name, ...(kept.length ? { snapshotKeptFor: kept.flatMap((k) => [...(refs.get(k) ?? [])]) } : {}) });
      }
    }
  }

  /**
   * A replica that lost its lease while its upload hung may finish it after the new leader paired the backup: its
   * object is under a key of its own that no record names (fenced), and would stay there at full size. Removed once
   * the pair is settled (not being reconciled, not Pending or Snapshotting).
   */
  private async removeUnnamedSnapshots(ours: PairRecord[], written: Map<string, string[]>, refs: Map<string, Set<string>>): Promise<void> {
    for (const record of ours) {
      const uid = record.backup.uid;
      if (this.opts.busy(uid) || record.state === "Pending" || record.state === "Snapshotting") continue;
      for (const key of written.get(uid) ?? []) {
        if ((refs.get(key)?.size ?? 0) > 0 || this.opts.snapshots.inUse(key)) continue;
        if (!this.opts.mayWrite()) return;
        await this.opts.store.delete(key);
        written.set(uid, (written.get(uid) ?? []).filter((k) => k !== key));
        this.opts.log.info("removed a snapshot no pair names (a replica finished it after losing its lease)", { backup: record.backup.name, key });
      }
    }
  }
}
