// One `restore run` per backup at a time: a lock object in the store beside the run's state
// (restores/<backup uid>.lock), created only if absent, naming its owner and when it expires. A run refreshes it
// while it works and removes it when it stops; a run killed without cleaning up is outlived by its expiry, so a
// second run never waits forever and never runs beside a live first one.
import { Readable } from "node:stream";
import type { ObjectStore } from "../store/object-store.js";

export const restoreLockKey = (backupUid: string) => `restores/${backupUid}.lock`;

export interface LockOwner {
  /** host/pid/user: enough for an operator to find the other run. */
  host: string;
  pid: number;
  user: string;
  /** Unique per run: its scratch files carry it too. */
  runId: string;
}

export interface LockRecord {
  owner: LockOwner;
  acquiredAt: string;
  expiresAt: string;
}

/** Another run holds the lock: who, since when, and until when it stands if that run is dead. */
export class RestoreRunLockedError extends Error {
  override readonly name = "RestoreRunLockedError";
  constructor(
    readonly key: string,
    readonly holder: LockRecord | undefined,
    detail?: string,
  ) {
    super(
      holder
        ? `another restore run of this backup is under way: ${holder.owner.user}@${holder.owner.host} pid ${holder.owner.pid} (run ${holder.owner.runId}) since ${holder.acquiredAt}. Wait for it to stop; if it died, its lock ${key} expires at ${holder.expiresAt} (or remove that object once you are sure it is dead)`
        : `another restore run of this backup holds ${key}${detail ? ` (${detail})` : ""}; wait for it, or remove that object once you are sure it is dead`,
    );
  }
}

async function readLock(store: ObjectStore, key: string): Promise<LockRecord | undefined> {
  try {
    const chunks: Buffer[] = [];
    for await (const c of await store.get(key)) chunks.push(c as Buffer);
    const v = JSON.parse(Buffer.concat(chunks).toString("utf8")) as LockRecord;
    return typeof v?.expiresAt === "string" && typeof v.owner?.runId === "string" ? v : undefined;
  } catch {
    return undefined;
  }
}

export interface HeldLock {
  readonly record: LockRecord;
  /** Pushes the expiry out (called while the run works). */
  refresh(): Promise<void>;
  release(): Promise<void>;
}

export interface AcquireOptions {
  store: ObjectStore;
  backupUid: string;
  owner: LockOwner;
  now: () => Date;
  /** How long the lock stands without a refresh (default 10 minutes). */
  ttlMs?: number;
  /**
   * Whether the holder is known to be dead (e.g. it ran on this host and its pid is gone): its lock is taken over
   * at once instead of after it expires. Default: never known.
   */
  holderIsDead?: (owner: LockOwner) => boolean;
}

export async function acquireRestoreLock(opts: AcquireOptions): Promise<HeldLock> {
  const key = restoreLockKey(opts.backupUid);
  const ttl = opts.ttlMs ?? 600_000;
  const recordAt = (acquiredAt: string): LockRecord => ({ owner: opts.owner, acquiredAt, expiresAt: new Date(opts.now().getTime() + ttl).toISOString() });
  const create = async (record: LockRecord): Promise<boolean> => {
    const text = `${JSON.stringify(record, null, 2)}\n`;
    if (opts.store.createIfAbsent) return opts.store.createIfAbsent(key, text);
    // A store without conditional writes: write, then read back after a pause; the last writer wins, the others see it.
    if (await opts.store.head(key)) return false;
    await opts.store.put(key, Readable.from([text]));
    await new Promise((r) => setTimeout(r, 500));
    return (await readLock(opts.store, key))?.owner.runId === opts.owner.runId;
  };
  let record = recordAt(opts.now().toISOString());
  if (!(await create(record))) {
    const holder = await readLock(opts.store, key);
    if (holder && Date.parse(holder.expiresAt) > opts.now().getTime() && !opts.holderIsDead?.(holder.owner)) throw new RestoreRunLockedError(key, holder);
    // Expired or its run is dead (or unreadable): take it over, once; a run that races us for it wins or loses cleanly.
    const current = await readLock(opts.store, key);
    if (current && current.owner.runId !== holder?.owner.runId) throw new RestoreRunLockedError(key, current);
    await opts.store.delete(key);
    record = recordAt(opts.now().toISOString());
    if (!(await create(record))) throw new RestoreRunLockedError(key, await readLock(opts.store, key));
  }
  let held = record;
  return {
    get record() {
      return held;
    },
    async refresh() {
      const current = await readLock(opts.store, key);
      if (current?.owner.runId !== opts.owner.runId) throw new RestoreRunLockedError(key, current, "the lock was taken over");
      held = { ...held, expiresAt: new Date(opts.now().getTime() + ttl).toISOString() };
      await opts.store.put(key, Readable.from([`${JSON.stringify(held, null, 2)}\n`]));
    },
    async release() {
      const current = await readLock(opts.store, key);
      if (current?.owner.runId === opts.owner.runId) await opts.store.delete(key);
    },
  };
}
