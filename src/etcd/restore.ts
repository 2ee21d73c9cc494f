// Restoring an etcd member from a stored snapshot, as etcd's recovery guide says: verify the snapshot, then
// `etcdutl snapshot restore` into a new data directory with the revision bumped and marked compacted, so every
// watcher (kubelet, controllers, Velero) re-lists instead of resuming at revisions that now mean other things.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, existsSync, readdirSync } from "node:fs";
import { readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import type { ObjectStore } from "../store/object-store.js";
import { plaintextStages, SnapshotIntegrityError, type SnapshotRecord } from "./snapshot.js";
import type { AgeIdentity } from "./snapshot-encryption.js";

const run = promisify(execFile);

export interface Member {
  name: string;
  peerUrl: string;
}

export interface RestoreMemberOptions {
  store: ObjectStore;
  snapshot: Pick<SnapshotRecord, "key" | "snapshotBytes" | "snapshotSha256" | "revision" | "encryption"> & { compression?: SnapshotRecord["compression"] };
  /** age identities for an encrypted snapshot (snapshot-encryption.ts). */
  identities?: readonly AgeIdentity[];
  member: Member;
  /** Every member of the restored cluster (for --initial-cluster); just `member` for a single-member etcd. */
  cluster: Member[];
  dataDir: string;
  etcdutl: string;
  /** Added to the snapshot's revision (etcd's guide: well above the writes since the snapshot). */
  bumpRevision: number;
  /** Move an existing, non-empty data directory aside instead of refusing. */
  force: boolean;
  now?: () => Date;
  /**
   * Names this attempt's scratch files (the decompressed snapshot, etcdutl's output directory), so two restores
   * into one data directory never share them (default: random).
   */
  runId?: string;
  /** Called with where the existing data directory goes, before it is moved: a caller records it first. */
  beforeMoveAside?: (movedAside: string) => Promise<void>;
}

export class DataDirExistsError extends Error {
  override readonly name = "DataDirExistsError";
  constructor(readonly dataDir: string) {
    super(`${dataDir} exists and is not empty; etcd restore never overwrites a data directory (pass --force to move it aside first)`);
  }
}

/** A scratch whose process still runs (or whose pid was reused) is left alone this long. */
const ABANDONED_SCRATCH_MS = 60 * 60_000;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Scratch left by a restore killed half-way: removed when its process is gone (or it has no pid: an older
 * version's), or it is old. A restore running now into the same directory keeps its own.
 */
async function removeAbandonedScratch(dataDir: string): Promise<void> {
  const base = basename(dataDir);
  const scratch = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.(?:twinsnap-partial|snapshot)(?:-(\\d+)-[0-9a-f]+)?(?:\\.db)?$`);
  const cutoff = Date.now() - ABANDONED_SCRATCH_MS;
  for (const name of await readdir(dirname(dataDir)).catch(() => [] as string[])) {
    const m = scratch.exec(name);
    if (!m) continue;
    const path = join(dirname(dataDir), name);
    const dead = m[1] === undefined || (Number(m[1]) !== process.pid && !pidAlive(Number(m[1])));
    const s = await stat(path).catch(() => undefined);
    if (s && (dead || s.mtimeMs < cutoff)) await rm(path, { recursive: true, force: true });
  }
}

export function initialCluster(members: readonly Member[]): string {
  return members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
}

/** The etcdutl command for one member; printed for the other members of a multi-member control plane. */
export function restoreCommand(etcdutl: string, snapshotFile: string, member: Member, cluster: readonly Member[], dataDir: string, bumpRevision: number): string[] {
  return [
    etcdutl,
    "snapshot",
    "restore",
    snapshotFile,
    "--name",
    member.name,
    "--initial-cluster",
    initialCluster(cluster),
    "--initial-advertise-peer-urls",
    member.peerUrl,
    "--data-dir",
    dataDir,
    "--bump-revision",
    String(bumpRevision),
    "--mark-compacted",
  ];
}

/**
 * Where the decompressed database waits for etcdutl: beside the data dir, never in a shared /tmp; named by process
 * and run, so two restores never share it and a dead one's is recognised (removeAbandonedScratch).
 */
export function snapshotFileFor(dataDir: string, pid: number, runId: string): string {
  return `${dataDir}.snapshot-${pid}-${runId}.db`;
}

export async function restoreMember(opts: RestoreMemberOptions): Promise<{ dataDir: string; movedAside?: string; snapshotFile: string }> {
  // The decompressed database holds every Secret of the cluster: a run killed while it existed left it behind,
  // so the next run removes it (and a dead run's scratch dir) first, whatever else happens.
  await removeAbandonedScratch(opts.dataDir);
  // Checked before anything is moved: an encrypted snapshot without its identity must not cost the data dir.
  const stages = plaintextStages(opts.snapshot, opts.identities);
  let movedAside: string | undefined;
  const runId = opts.runId ?? randomBytes(4).toString("hex");
  if (existsSync(opts.dataDir) && readdirSync(opts.dataDir).length > 0) {
    if (!opts.force) throw new DataDirExistsError(opts.dataDir);
    movedAside = `${opts.dataDir}.before-twinsnap-${(opts.now ?? (() => new Date()))().toISOString().replace(/[:.]/g, "-")}-${runId}`;
    await opts.beforeMoveAside?.(movedAside);
    await rename(opts.dataDir, movedAside);
  } else if (existsSync(opts.dataDir)) {
    await rm(opts.dataDir, { recursive: true }); // empty: etcdutl wants to create it
  }
  // etcdutl writes into a scratch directory that becomes the data directory only once complete: a restore killed
  // half-way leaves nothing that looks like a data directory, and the next attempt starts clean.
  // Scratch names carry this process and run: two restores never share them, and a dead one's are recognised.
  const scratch = `${opts.dataDir}.twinsnap-partial-${process.pid}-${runId}`;
  const snapshotFile = snapshotFileFor(opts.dataDir, process.pid, runId);
  const hash = createHash("sha256");
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _e, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  try {
    // 0600 from its first byte (flags "wx": a file that appeared since the removal above is not followed).
    await (pipeline as (...args: unknown[]) => Promise<void>)(await opts.store.get(opts.snapshot.key), ...stages, tap, createWriteStream(snapshotFile, { mode: 0o600, flags: "wx" }));
    const actual = { bytes, sha256: hash.digest("hex") };
    if (actual.bytes !== opts.snapshot.snapshotBytes || actual.sha256 !== opts.snapshot.snapshotSha256) {
      throw new SnapshotIntegrityError(opts.snapshot.key, { bytes: opts.snapshot.snapshotBytes, sha256: opts.snapshot.snapshotSha256 }, actual);
    }
    const [cmd, ...args] = restoreCommand(opts.etcdutl, snapshotFile, opts.member, opts.cluster, scratch, opts.bumpRevision);
    try {
      await run(cmd!, args);
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`etcdutl snapshot restore failed: ${e.stderr?.trim() || e.message}`);
    }
    await rename(scratch, opts.dataDir); // a data directory holds no absolute paths: it can move
  } finally {
    await rm(snapshotFile, { force: true });
    await rm(scratch, { recursive: true, force: true });
  }
  return { dataDir: opts.dataDir, snapshotFile, ...(movedAside ? { movedAside } : {}) };
}
