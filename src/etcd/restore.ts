// Restoring an etcd member from a stored snapshot, as etcd's recovery guide says: verify the snapshot, then
// `etcdutl snapshot restore` into a new data directory with the revision bumped and marked compacted, so every
// watcher (kubelet, controllers, Velero) re-lists instead of resuming at revisions that now mean other things.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream, existsSync, readdirSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { compressionOfKey, decompressor } from "./compression.js";
import type { ObjectStore } from "../store/object-store.js";
import { SnapshotIntegrityError, type SnapshotRecord } from "./snapshot.js";

const run = promisify(execFile);

export interface Member {
  name: string;
  peerUrl: string;
}

export interface RestoreMemberOptions {
  store: ObjectStore;
  snapshot: Pick<SnapshotRecord, "key" | "snapshotBytes" | "snapshotSha256" | "revision"> & { compression?: SnapshotRecord["compression"] };
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
}

export class DataDirExistsError extends Error {
  override readonly name = "DataDirExistsError";
  constructor(readonly dataDir: string) {
    super(`${dataDir} exists and is not empty; etcd restore never overwrites a data directory (pass --force to move it aside first)`);
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

export async function restoreMember(opts: RestoreMemberOptions): Promise<{ dataDir: string; movedAside?: string; snapshotFile: string }> {
  let movedAside: string | undefined;
  if (existsSync(opts.dataDir) && readdirSync(opts.dataDir).length > 0) {
    if (!opts.force) throw new DataDirExistsError(opts.dataDir);
    movedAside = `${opts.dataDir}.before-twinsnap-${(opts.now ?? (() => new Date()))().toISOString().replace(/[:.]/g, "-")}`;
    await rename(opts.dataDir, movedAside);
  } else if (existsSync(opts.dataDir)) {
    await rm(opts.dataDir, { recursive: true }); // empty: etcdutl wants to create it
  }
  // etcdutl writes into a scratch directory that becomes the data directory only once complete: a restore killed
  // half-way leaves nothing that looks like a data directory, and the next attempt starts clean.
  const scratch = `${opts.dataDir}.twinsnap-partial`;
  await rm(scratch, { recursive: true, force: true });
  const snapshotFile = `${opts.dataDir}.snapshot.db`;
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
    await pipeline(await opts.store.get(opts.snapshot.key), decompressor(opts.snapshot.compression ?? compressionOfKey(opts.snapshot.key)), tap, createWriteStream(snapshotFile));
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
