// The snapshots the coordinator takes: at most `concurrency` at once (each streams the whole database), retried
// with backoff when etcd or the store fails recoverably, each under a key of its writer's own (snapshotKey). With a
// share window, the registry of snapshots a burst of backups may share; snapshot-sharing.ts decides, this keeps
// the candidates and the keys in use, which retention must leave alone.
import { randomBytes } from "node:crypto";
import type { EtcdMaintenance } from "../etcd/etcd-client.js";
import { saveSnapshot, SnapshotAbortedError, type SnapshotRecord } from "../etcd/snapshot.js";
import type { Logger } from "../log/logger.js";
import { snapshotKey, type PairRecord } from "../pairs/pair-record.js";
import type { ObjectStore } from "../store/object-store.js";
import type { CoordinatorMetrics } from "./metrics.js";
import { chooseSnapshot, type ShareCandidate, type SnapshotTiming } from "./snapshot-sharing.js";
import { isRecoverable } from "../recoverable.js";

export type SharedSnapshot = NonNullable<PairRecord["sharedSnapshot"]>;
export type SnapshotOutcome = { snapshot: SnapshotRecord; shared?: SharedSnapshot } | { error: string } | "stopped";

/** A snapshot this registry knows, for sharing: taken (snapshot set) or being taken (result pending). */
interface KnownSnapshot extends ShareCandidate {
  snapshot?: SnapshotRecord;
  result?: Promise<SnapshotRecord | undefined>;
}

export interface SnapshotRegistryOptions {
  etcd: EtcdMaintenance;
  store: ObjectStore;
  log: Logger;
  metrics?: CoordinatorMetrics;
  encryptTo?: readonly string[];
  encryptPassphrase?: string;
  /** Snapshots taken at once (default 2). */
  concurrency?: number;
  /** Attempts for a recoverable failure before giving up (default 5), and the first delay (doubling). */
  retry?: { attempts: number; firstDelayMs: number };
  /** Backups started within this many ms of a snapshot's backup share it (0: off). */
  shareWindowMs: number;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
  /** The coordinator's stop signal: a snapshot stops mid-stream with it. */
  signal: () => AbortSignal | undefined;
}

export class SnapshotRegistry {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** Snapshots that bursts may share, by store key (only with a share window). */
  private readonly known = new Map<string, KnownSnapshot>();
  /** Keys that a reconcile has decided to share and not yet recorded: retention must not remove them meanwhile. */
  private readonly sharing = new Map<string, number>();

  constructor(private readonly opts: SnapshotRegistryOptions) {}

  private get stopped(): boolean {
    return this.opts.signal()?.aborted === true;
  }

  /**
   * The backup's snapshot: a shared one when chooseSnapshot finds one in the window, else its own. Deciding and
   * registering happen without an await in between, so the backups of a burst see each other's snapshots.
   * A shared outcome holds its key until `release`.
   */
  async snapshotFor(backup: { name: string; uid: string; startTimestamp?: string | undefined }, timing: SnapshotTiming): Promise<SnapshotOutcome> {
    const { uid } = backup;
    const windowMs = this.opts.shareWindowMs;
    const startMs = Date.parse(backup.startTimestamp ?? "");
    const decision = chooseSnapshot({ startMs: Number.isNaN(startMs) ? undefined : startMs, timing }, [...this.known.values()].filter((k) => k.takenFor.uid !== uid), windowMs);
    if (decision.do === "share") {
      const known = this.known.get(decision.snapshot.key)!;
      this.sharing.set(known.key, (this.sharing.get(known.key) ?? 0) + 1);
      const snapshot = known.snapshot ?? (await known.result);
      if (snapshot && !this.stopped) {
        this.opts.log.info("sharing a snapshot", { backup: backup.name, takenFor: known.takenFor.name, why: decision.why });
        return { snapshot, shared: { key: known.key, takenFor: known.takenFor, windowSeconds: windowMs / 1000 } };
      }
      this.unshare(known.key);
      if (this.stopped) return "stopped";
      // The snapshot it would have shared failed: take its own.
    }
    // A key of this writer's own: see snapshotKey.
    const key = snapshotKey(uid, `${this.opts.now().toISOString().replace(/[-:.]/g, "")}-${randomBytes(4).toString("hex")}`);
    const own = this.snapshotWithRetries(key);
    if (windowMs > 0 && !Number.isNaN(startMs)) {
      const entry: KnownSnapshot = { key, takenFor: { name: backup.name, uid }, anchorMs: startMs, timing, state: "taking" };
      entry.result = own.then((o) => (typeof o === "object" && "snapshot" in o ? o.snapshot : undefined));
      this.known.set(key, entry);
      void entry.result.then((snapshot) => {
        if (this.known.get(key) !== entry) return;
        if (snapshot) Object.assign(entry, { state: "taken", snapshot });
        else this.known.delete(key);
      });
    }
    return own;
  }

  /** The pair of a shared outcome is recorded (or given up): its key is no longer held for it. */
  release(outcome: SnapshotOutcome): void {
    if (typeof outcome === "object" && "shared" in outcome && outcome.shared) this.unshare(outcome.shared.key);
  }

  /** Being shared by a reconcile, or being taken: retention leaves the key alone. */
  inUse(key: string): boolean {
    return this.sharing.has(key) || this.known.get(key)?.state === "taking";
  }

  /** Retention removed the key: no backup may share it any more. */
  forget(key: string): void {
    this.known.delete(key);
  }

  /** With a share window: the snapshots already in the store (this cluster's) that backups of a burst may share. */
  learn(records: readonly PairRecord[], identity: string): void {
    for (const r of records) {
      const anchorMs = Date.parse(r.backup.startTimestamp ?? "");
      if (!r.snapshot || r.sharedSnapshot || r.clusterIdentity !== identity || !r.snapshotTiming || Number.isNaN(anchorMs)) continue;
      if (this.known.get(r.snapshot.key)?.state === "taking") continue;
      this.known.set(r.snapshot.key, { key: r.snapshot.key, takenFor: { name: r.backup.name, uid: r.backup.uid }, anchorMs, timing: r.snapshotTiming, state: "taken", snapshot: r.snapshot });
    }
  }

  private unshare(key: string): void {
    const n = (this.sharing.get(key) ?? 1) - 1;
    if (n > 0) this.sharing.set(key, n);
    else this.sharing.delete(key);
  }

  private async snapshotWithRetries(key: string): Promise<SnapshotOutcome> {
    const { attempts, firstDelayMs } = this.opts.retry ?? { attempts: 5, firstDelayMs: 2000 };
    await this.slot();
    try {
      for (let attempt = 1; ; attempt++) {
        if (this.stopped) return "stopped";
        try {
          const started = this.opts.now().getTime();
          const signal = this.opts.signal();
          const snapshot = await saveSnapshot(this.opts.etcd, this.opts.store, key, { now: this.opts.now, ...(signal ? { signal } : {}), ...(this.opts.encryptTo?.length ? { encryptTo: this.opts.encryptTo } : {}), ...(this.opts.encryptPassphrase !== undefined ? { encryptPassphrase: this.opts.encryptPassphrase } : {}) });
          const finished = this.opts.now();
          this.opts.metrics?.snapshotTaken((finished.getTime() - started) / 1000, snapshot.storedBytes, finished);
          return { snapshot };
        } catch (err) {
          if (err instanceof SnapshotAbortedError) return "stopped";
          const recoverable = isRecoverable(err);
          const message = (err as Error).message;
          if (!recoverable || attempt >= attempts) return { error: `etcd snapshot failed after ${attempt} attempt(s): ${message}` };
          this.opts.log.warn("etcd snapshot failed; retrying", { attempt, error: message });
          await this.opts.sleep(firstDelayMs * 2 ** (attempt - 1));
        }
      }
    } finally {
      this.releaseSlot();
    }
  }

  private async slot(): Promise<void> {
    if (this.running >= (this.opts.concurrency ?? 2)) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
  }

  private releaseSlot(): void {
    this.running--;
    this.waiting.shift()?.();
  }
}
