// An etcd snapshot, streamed from Maintenance.Snapshot through sha256 and gzip into a store, in constant memory
// whatever the database size, then verified by reading back what was stored.
import { createHash } from "node:crypto";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import type { EtcdMaintenance, SnapshotChunk } from "./etcd-client.js";
import { StoreWriteError, type ObjectStore } from "../store/object-store.js";

/** What a stored snapshot is: enough to verify it later and to restore it (JSON, in the pair record). */
export interface SnapshotRecord {
  store: string;
  key: string;
  compression: "gzip";
  /** The etcd revision the snapshot holds (the first header of the stream). */
  revision: string;
  clusterId: string;
  memberId: string;
  etcdVersion: string;
  /** Backend size reported by the member (Status.dbSize) when the snapshot started. */
  dbSizeBytes: number;
  /** The snapshot as etcd sent it (what `etcdutl snapshot restore` takes). */
  snapshotBytes: number;
  snapshotSha256: string;
  /** The object in the store (gzip of the above). */
  storedBytes: number;
  storedSha256: string;
  startedAt: string;
  finishedAt: string;
}

export class EtcdUnavailableError extends Error {
  override readonly name = "EtcdUnavailableError";
  readonly recoverable = true;
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
  }
}

export class SnapshotStreamError extends Error {
  override readonly name = "SnapshotStreamError";
  readonly recoverable: boolean;
  constructor(message: string, options: { cause: unknown; recoverable?: boolean }) {
    super(message, { cause: options.cause });
    this.recoverable = options.recoverable ?? true;
  }
}

export class SnapshotIntegrityError extends Error {
  override readonly name = "SnapshotIntegrityError";
  readonly recoverable = false;
  constructor(
    readonly key: string,
    readonly expected: { bytes: number; sha256: string },
    readonly actual: { bytes: number; sha256: string },
  ) {
    super(`stored snapshot ${key} does not read back as written: expected ${expected.bytes} bytes sha256 ${expected.sha256}, read ${actual.bytes} bytes sha256 ${actual.sha256}`);
  }
}

export async function saveSnapshot(client: EtcdMaintenance, store: ObjectStore, key: string, now: () => Date = () => new Date()): Promise<SnapshotRecord> {
  const startedAt = now();
  let status;
  try {
    status = await client.status();
  } catch (err) {
    throw new EtcdUnavailableError(`etcd is not reachable: ${(err as Error).message}`, { cause: err });
  }

  const raw = createHash("sha256");
  let rawBytes = 0;
  let header: SnapshotChunk["header"] | undefined;
  // Chunks of the stream become bytes; the hash of what etcd sent is taken on the way.
  const blobs = new Transform({
    writableObjectMode: true,
    transform(chunk: SnapshotChunk, _enc, done) {
      header ??= chunk.header ?? undefined;
      if (chunk.blob && chunk.blob.length > 0) {
        raw.update(chunk.blob);
        rawBytes += chunk.blob.length;
        done(null, chunk.blob);
      } else done();
    },
  });
  let stored;
  try {
    const stream = await client.snapshot();
    const gz = createGzip();
    // Which side failed first: etcd's stream, or the store (which closes its input when it gives up, and then
    // the stream reports a premature close that is not etcd's fault).
    let etcdFailedFirst = false;
    let storeClosedFirst = false;
    stream.once("error", () => (etcdFailedFirst = !storeClosedFirst));
    gz.once("close", () => (storeClosedFirst = !etcdFailedFirst));
    const body = pipeline(stream, blobs, gz).catch((err: unknown) => {
      gz.destroy(err as Error); // make the store's write fail too, so nothing is published
      throw err;
    });
    // Wait for both sides: when the stream breaks, the store must have removed its partial object before we
    // report the failure (a caller may retry at once).
    const [put, streamed] = await Promise.allSettled([store.put(key, gz), body]);
    if (streamed.status === "rejected" && (etcdFailedFirst || put.status === "fulfilled")) throw streamed.reason;
    if (put.status === "rejected") throw put.reason;
    if (streamed.status === "rejected") throw streamed.reason;
    stored = put.value;
  } catch (err) {
    await store.delete(key).catch(() => undefined);
    // A StoreWriteError here is the store's own failure (denied, unreachable), not etcd's.
    if (err instanceof StoreWriteError) throw new SnapshotStreamError(`storing the snapshot failed: ${err.message}`, { cause: err, recoverable: err.recoverable });
    throw new SnapshotStreamError(`the snapshot stream from etcd broke: ${(err as Error).message}`, { cause: err });
  }
  const record: SnapshotRecord = {
    store: store.url,
    key,
    compression: "gzip",
    revision: header?.revision ?? status.header.revision,
    clusterId: header?.cluster_id ?? status.header.cluster_id,
    memberId: header?.member_id ?? status.header.member_id,
    etcdVersion: status.version,
    dbSizeBytes: Number(status.dbSize),
    snapshotBytes: rawBytes,
    snapshotSha256: raw.digest("hex"),
    storedBytes: stored.size,
    storedSha256: stored.sha256,
    startedAt: startedAt.toISOString(),
    finishedAt: now().toISOString(),
  };
  await verifyStoredSnapshot(store, record);
  return record;
}

/** Reads the stored object back: its size and hash, and the size and hash of the snapshot inside. */
export async function verifyStoredSnapshot(store: ObjectStore, record: Pick<SnapshotRecord, "key" | "storedBytes" | "storedSha256" | "snapshotBytes" | "snapshotSha256">): Promise<void> {
  const storedHash = createHash("sha256");
  const rawHash = createHash("sha256");
  let storedBytes = 0;
  let rawBytes = 0;
  const tap = (hash: ReturnType<typeof createHash>, count: (n: number) => void) =>
    new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        count(chunk.length);
        done(null, chunk);
      },
    });
  const sink = new Transform({ transform: (_c, _e, done) => done() });
  sink.resume();
  await pipeline(await store.get(record.key), tap(storedHash, (n) => (storedBytes += n)), createGunzip(), tap(rawHash, (n) => (rawBytes += n)), sink);
  const stored = { bytes: storedBytes, sha256: storedHash.digest("hex") };
  const raw = { bytes: rawBytes, sha256: rawHash.digest("hex") };
  if (stored.bytes !== record.storedBytes || stored.sha256 !== record.storedSha256) {
    throw new SnapshotIntegrityError(record.key, { bytes: record.storedBytes, sha256: record.storedSha256 }, stored);
  }
  if (raw.bytes !== record.snapshotBytes || raw.sha256 !== record.snapshotSha256) {
    throw new SnapshotIntegrityError(record.key, { bytes: record.snapshotBytes, sha256: record.snapshotSha256 }, raw);
  }
}
