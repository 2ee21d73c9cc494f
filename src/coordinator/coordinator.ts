// The coordinator: pairs each of Velero's Backups with a verified etcd snapshot taken while the backup runs. What
// to do for a backup is decided by pairing.ts; this file does it, one backup at a time per uid, with retries.
// Following the Backups is the informer's job (backup-informer.ts), snapshots (slots, retries, sharing) the
// registry's (snapshot-registry.ts), records and annotations the writer's (pair-writer.ts), removing pairs of
// deleted backups retention's (retention.ts); the state they share with this file is passed to them explicitly.
// Stopping (the signal of start) stops snapshots mid-stream and every write: a coordinator that lost its lease
// or is shutting down leaves records as they are, and the next one resumes them (pairing.ts decides how).
import type { EtcdMaintenance } from "../etcd/etcd-client.js";
import type { RawClient } from "../kube/raw-client.js";
import type { Logger } from "../log/logger.js";
import { DamagedRecordError, type PairCoverage, type PairRecord, type PairState } from "../pairs/pair-record.js";
import { listPairRecords, readPairRecord } from "../pairs/pair-store.js";
import type { ObjectStore } from "../store/object-store.js";
import type { CoordinatorMetrics } from "./metrics.js";
import { BackupInformer, type BackupList } from "./backup-informer.js";
import { nextPairingStep } from "./pairing.js";
import { ANNOTATIONS, PairWriter } from "./pair-writer.js";
import { Retention } from "./retention.js";
import { SnapshotRegistry } from "./snapshot-registry.js";
import { veleroPath, type VeleroBackup } from "../velero/velero-api.js";

export type { VeleroBackup };

export interface CoordinatorOptions {
  client: RawClient;
  store: ObjectStore;
  /** The etcd to snapshot, or why there is none (a managed control plane): then pairs record that instead. */
  etcd: EtcdMaintenance | { unavailable: string };
  veleroNamespace: string;
  log: Logger;
  version: string;
  /** age recipients: every snapshot is encrypted to them after compression (the record says so). */
  encryptTo?: readonly string[];
  /** Or a passphrase (age -p), instead of recipients. */
  encryptPassphrase?: string;
  /** Snapshots taken at once (default 2: each streams the whole database). */
  concurrency?: number;
  /** Attempts for a recoverable snapshot failure before the pair is Failed (default 5), and the first delay. */
  retry?: { attempts: number; firstDelayMs: number };
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
  /** How long a pair outlives its deleted backup before retention removes it (default 1 hour). */
  retentionGraceMs?: number;
  /** How often retention runs besides each re-list (default 5 minutes, or the grace period if shorter). */
  gcIntervalMs?: number;
  metrics?: CoordinatorMetrics;
  /**
   * Backups that Velero starts within this many milliseconds of a snapshot's backup share that snapshot instead of
   * streaming etcd again (default 0: every backup gets its own).
   */
  shareWindowMs?: number;
  /**
   * Compares a Paired record's snapshot with its Velero backup (`twinsnap pairs diff`); the counts go into the
   * record and the metrics. Absent: not checked (the backup's contents are only reachable through a bsl: store).
   */
  checkCoverage?: (record: PairRecord) => Promise<{ missed: number; neverBackedUp: number; undecodable: number; byReason: Record<string, number>; revision: number }>;
  /**
   * Fencing: whether this replica may still write (it holds the lease). Checked right before every write to the
   * store or the cluster; a replica that lost the lease writes nothing more, even if its work is not stopped yet.
   */
  mayWrite?: () => boolean;
  /** The apiserver URL(s) of this cluster, recorded in each pair: `restore plan` probes them to tell a lost control plane. */
  apiserverEndpoints?: string[];
  /**
   * The Backup watch: the apiserver ends it after `watchTimeoutSeconds` (default 300; the coordinator lists again),
   * and a watch silent for `watchIdleMs` (default 150 s; the apiserver sends bookmarks every minute) is taken for a
   * half-open connection and dropped.
   */
  watchTimeoutSeconds?: number;
  watchIdleMs?: number;
}

export { ANNOTATIONS } from "./pair-writer.js";

export class Coordinator {
  private readonly chains = new Map<string, Promise<void>>();
  /** Backups Velero synced from its storage location, by uid: the pair they already have (undefined: none). */
  private readonly resynced = new Map<string, PairRecord | undefined>();
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => Date;
  private signal?: AbortSignal;
  private readonly snapshots: SnapshotRegistry;
  private readonly retention: Retention;
  private readonly informer: BackupInformer;
  private readonly pairs: PairWriter;
  /** Damaged records already logged, by key (logged once, not on every event). */
  private readonly reportedDamaged = new Set<string>();

  constructor(private readonly opts: CoordinatorOptions) {
    // The default sleep ends early when the coordinator stops: a retry delay must not hold up a shutdown.
    this.sleep =
      opts.sleep ??
      ((ms) =>
        new Promise((r) => {
          const signal = this.signal;
          const stop = () => (clearTimeout(timer), r());
          const timer = setTimeout(() => (signal?.removeEventListener("abort", stop), r()), ms);
          signal?.addEventListener("abort", stop, { once: true });
        }));
    this.now = opts.now ?? (() => new Date());
    this.snapshots = new SnapshotRegistry({
      // Only asked for a snapshot when etcd is available (reconcile checks).
      etcd: opts.etcd as EtcdMaintenance,
      store: opts.store,
      log: opts.log,
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
      ...(opts.encryptTo ? { encryptTo: opts.encryptTo } : {}),
      ...(opts.encryptPassphrase !== undefined ? { encryptPassphrase: opts.encryptPassphrase } : {}),
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
      ...(opts.retry ? { retry: opts.retry } : {}),
      shareWindowMs: opts.shareWindowMs ?? 0,
      now: this.now,
      sleep: this.sleep,
      signal: () => this.signal,
    });
    this.pairs = new PairWriter({
      client: opts.client,
      store: opts.store,
      log: opts.log,
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
      version: opts.version,
      ...(opts.apiserverEndpoints ? { apiserverEndpoints: opts.apiserverEndpoints } : {}),
      now: this.now,
      mayWrite: () => this.mayWrite,
    });
    this.informer = new BackupInformer({
      client: opts.client,
      veleroNamespace: opts.veleroNamespace,
      log: opts.log,
      sleep: this.sleep,
      ...(opts.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: opts.watchTimeoutSeconds } : {}),
      ...(opts.watchIdleMs !== undefined ? { watchIdleMs: opts.watchIdleMs } : {}),
    });
    this.retention = new Retention({
      store: opts.store,
      log: opts.log,
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
      veleroNamespace: opts.veleroNamespace,
      graceMs: opts.retentionGraceMs ?? 3_600_000,
      now: this.now,
      clusterIdentity: () => this.pairs.clusterIdentity(),
      listBackupNames: async () => new Set((await this.informer.list()).items.map((b) => b.metadata.name)),
      busy: (uid) => this.chains.has(uid),
      snapshots: this.snapshots,
      mayWrite: () => this.mayWrite,
    });
  }

  private get backupsPath(): string {
    return veleroPath(this.opts.veleroNamespace, "backups");
  }

  /** Runs until the signal aborts: list, reconcile everything, watch; again after any break (backup-informer.ts). */
  async start(signal: AbortSignal): Promise<void> {
    this.signal = signal;
    await this.retention.removeAbandonedPartials();
    const gc = setInterval(() => {
      this.collectGarbage().catch((err: unknown) => this.opts.log.warn("retention pass failed", { error: (err as Error).message }));
    }, this.opts.gcIntervalMs ?? Math.min(300_000, this.opts.retentionGraceMs ?? 3_600_000));
    signal.addEventListener("abort", () => clearInterval(gc), { once: true });
    this.opts.metrics?.pairingStarted(this.now());
    try {
      await this.informer.run(
        signal,
        {
          listed: (list) => this.reconcileList(list),
          changed: (backup) => this.enqueue(backup),
          deleted: () => void this.collectGarbage().catch((err: unknown) => this.opts.log.warn("retention pass failed", { error: (err as Error).message })),
          progressed: () => this.opts.metrics?.pairingProgress(this.now()),
        },
        () => {
          if (this.opts.metrics) this.opts.metrics.ready = true;
        },
      );
    } finally {
      this.opts.metrics?.pairingStopped();
    }
    await this.idle();
  }

  /** Lists the Backups and reconciles each; returns the list's resourceVersion. */
  async reconcileAll(): Promise<string> {
    const list = await this.informer.list();
    this.opts.metrics?.pairingProgress(this.now());
    await this.reconcileList(list);
    return list.metadata.resourceVersion;
  }

  private async reconcileList(list: BackupList): Promise<void> {
    if ((this.opts.shareWindowMs ?? 0) > 0) await this.learnSnapshots().catch((err: unknown) => this.opts.log.warn("could not read the store's snapshots for sharing", { error: (err as Error).message }));
    for (const b of list.items) this.enqueue(b);
    // Retention must not keep the watch from starting: its failure is logged, pairing goes on.
    await this.collectGarbage(list.items).catch((err: unknown) => this.opts.log.warn("retention pass failed", { error: (err as Error).message }));
  }

  /**
   * Retention: when Velero deletes a backup, its pair (record and snapshot) goes too, a grace period later.
   * Only this cluster's pairs, and only when no Backup of that name exists: after a cluster is lost, Velero's
   * sync recreates Backups with new uids, and the old pairs are exactly what the new cluster needs.
   */
  collectGarbage(backups?: VeleroBackup[]): Promise<void> {
    // One pass at a time: two passes counting references from their own listings could each keep a snapshot
    // for the other's pair, and then nobody would remove it.
    return this.retention.collect(backups ? new Set(backups.map((b) => b.metadata.name)) : undefined);
  }

  /** With a share window: the snapshots already in the store that backups of a burst may share. */
  private async learnSnapshots(): Promise<void> {
    this.snapshots.learn((await listPairRecords(this.opts.store)).records, await this.pairs.clusterIdentity());
  }

  /** Resolves once every queued reconcile has finished. */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  /** One reconcile at a time per backup, in the order events arrive. */
  enqueue(backup: VeleroBackup, attempt = 0): void {
    const uid = backup.metadata.uid;
    const previous = this.chains.get(uid) ?? Promise.resolve();
    const next = previous
      .then(() => this.reconcile(backup))
      .catch((err: unknown) => {
        const retryInMs = Math.min(1000 * 2 ** attempt, 30_000);
        this.opts.log.error("pairing failed", { backup: backup.metadata.name, error: (err as Error).message, retryInMs });
        // A step that failed (an apiserver or a store that did not answer) is tried again: a Backup that does not
        // change sends no further event, and would otherwise wait for the next re-list, minutes away.
        void this.sleep(retryInMs).then(() => this.retry(backup, attempt + 1));
      })
      .finally(() => {
        if (this.chains.get(uid) === next) this.chains.delete(uid);
      });
    this.chains.set(uid, next);
  }

  /** Reconciles the Backup again as it is now (unless it is gone, or a newer event is already being handled). */
  private async retry(backup: VeleroBackup, attempt: number): Promise<void> {
    if (this.stopped || this.signal?.aborted || this.chains.has(backup.metadata.uid)) return;
    try {
      const now = await this.opts.client.get<VeleroBackup>(`${this.backupsPath}/${encodeURIComponent(backup.metadata.name)}`);
      if (now && now.metadata.uid === backup.metadata.uid) this.enqueue(now, attempt);
    } catch {
      this.enqueue(backup, attempt); // the apiserver still does not answer: the reconcile fails and backs off again
    }
  }

  async reconcile(backup: VeleroBackup): Promise<void> {
    const uid = backup.metadata.uid;
    let record: PairRecord | undefined;
    try {
      record = await this.readRecord(uid);
    } catch (err) {
      if (!(err instanceof DamagedRecordError)) throw err;
      // Left as it is (it may be evidence; `pairs list` shows it): this backup waits for a person, the others go on.
      if (!this.reportedDamaged.has(err.key)) this.opts.log.error("damaged pair record; this backup is not paired until it is repaired or removed", { backup: backup.metadata.name, key: err.key, problem: err.problem });
      this.reportedDamaged.add(err.key);
      return;
    }
    if (!record && (await this.pairOfResyncedBackup(backup))) return;
    const step = nextPairingStep(backup.status?.phase ?? "", record);
    switch (step.do) {
      case "nothing":
        // Annotations from another moment (an etcd restore brings back the Backup as the snapshot saw it): mirror again.
        if (record && backup.metadata.annotations?.[ANNOTATIONS.state] !== record.state) await this.pairs.mirror(backup, record);
        return;
      case "record-pending":
        return this.write(backup, { state: "Pending" });
      case "mark-paired":
        return this.checkCoverage(backup, await this.pairs.write(backup, { ...record!, state: "Paired" }));
      case "mark-backup-failed":
        return this.write(backup, { ...(record ?? {}), state: "BackupFailed", reason: `Velero's backup ended ${backup.status?.phase}` });
      case "snapshot": {
        if ("unavailable" in this.opts.etcd) {
          const etcd = { available: false as const, reason: this.opts.etcd.unavailable };
          return this.write(backup, { state: step.thenPair ? "Paired" : "Snapshotting", etcd });
        }
        await this.write(backup, { state: "Snapshotting" });
        if (this.stopped) return;
        const outcome = await this.snapshots.snapshotFor({ name: backup.metadata.name, uid: backup.metadata.uid, startTimestamp: backup.status?.startTimestamp }, step.timing);
        if (outcome === "stopped") return; // the record stays Snapshotting: the next coordinator takes it up
        if ("error" in outcome) return this.write(backup, { state: "Failed", reason: outcome.error });
        try {
          return await this.checkCoverage(
            backup,
            await this.pairs.write(backup, { state: step.thenPair ? "Paired" : "Snapshotting", snapshot: outcome.snapshot, snapshotTiming: step.timing, ...(outcome.shared ? { sharedSnapshot: outcome.shared } : {}) }),
          );
        } finally {
          this.snapshots.release(outcome);
        }
      }
    }
  }

  /** Once per Paired record with a snapshot: what the backup missed. A failure is recorded, never fatal to the pair. */
  private async checkCoverage(backup: VeleroBackup, record: PairRecord | undefined): Promise<void> {
    const check = this.opts.checkCoverage;
    if (!check || !record || record.state !== "Paired" || !record.snapshot || record.coverage || this.stopped) return;
    let coverage: PairCoverage;
    try {
      coverage = { ...(await check(record)), checkedAt: this.now().toISOString() };
    } catch (err) {
      this.opts.log.warn("could not compare the backup with its snapshot", { backup: backup.metadata.name, error: (err as Error).message });
      coverage = { error: (err as Error).message, checkedAt: this.now().toISOString() };
    }
    const written = await this.pairs.write(backup, { ...record, coverage });
    if (written) this.opts.metrics?.coverageChecked(written);
  }

  private get stopped(): boolean {
    return this.signal?.aborted === true;
  }

  /**
   * A Backup that Velero's sync made from its storage location — after its object was lost (a new cluster, or an
   * etcd restore that brought it back unfinished and was deleted): a new uid, but the same backup, which already
   * has its pair in the store. Snapshotting now would pair the backup with an etcd that has nothing to do with it;
   * instead the Backup gets the existing pair's annotations. Recognised by name and start time, once per uid.
   */
  private async pairOfResyncedBackup(backup: VeleroBackup): Promise<PairRecord | undefined> {
    const uid = backup.metadata.uid;
    if (this.resynced.has(uid)) return this.resynced.get(uid);
    const started = backup.status?.startTimestamp;
    const phase = backup.status?.phase ?? "";
    if (!started || !["Completed", "PartiallyFailed", "Failed"].includes(phase)) return undefined;
    const { records } = await listPairRecords(this.opts.store);
    const earlier = records.find((r) => r.backup.name === backup.metadata.name && r.backup.namespace === backup.metadata.namespace && r.backup.uid !== uid && r.backup.startTimestamp === started);
    this.resynced.set(uid, earlier);
    if (earlier) {
      this.opts.log.info("backup synced by Velero from its storage location; it keeps its pair", { backup: backup.metadata.name, pair: earlier.backup.uid, state: earlier.state });
      await this.pairs.mirror(backup, earlier);
    }
    return earlier;
  }

  private readRecord(uid: string): Promise<PairRecord | undefined> {
    return readPairRecord(this.opts.store, uid);
  }

  /** Stopping, or no longer the leader: the next coordinator writes. */
  private get mayWrite(): boolean {
    return !this.stopped && (this.opts.mayWrite?.() ?? true);
  }

  private async write(backup: VeleroBackup, fields: Partial<PairRecord> & { state: PairState }): Promise<void> {
    await this.pairs.write(backup, fields);
  }
}
