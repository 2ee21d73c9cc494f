// An etcd snapshot, streamed from Maintenance.Snapshot through sha256 and compression (zstd by default) into a
// store, in constant memory whatever the database size, and verified in the same pass: the compressed bytes are
// decompressed again as they go out and must hash to what etcd sent, and the store hashes what it writes.
import { createHash, type Hash } from "node:crypto";
import { once } from "node:events";
import { PassThrough, Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { compressionOfKey, compressor, DEFAULT_SNAPSHOT_COMPRESSION, decompressor, type SnapshotCompression } from "./compression.js";
import type { EtcdMaintenance, SnapshotChunk } from "./etcd-client.js";
import { ChunkPool, givingBackAfter, releaseIfLast } from "./chunk-pool.js";
import { EtcdCallError } from "./etcd-call.js";
import { SNAPSHOT_CHUNK_BYTES } from "./snapshot-response-decoder.js";
import { StoreWriteError, type ObjectStore } from "../store/object-store.js";
import { BoltRevisionReader } from "./bolt-revision.js";
import { encryptStage, plaintextStages, SnapshotEncryptionError, type AgeIdentity, type EncryptionTarget, type SnapshotEncryption } from "./snapshot-encryption.js";
export { plaintextStages };

/** What a stored snapshot is: enough to verify it later and to restore it (JSON, in the pair record). */
export interface SnapshotRecord {
  store: string;
  key: string;
  /** Records before zstd existed say "gzip". */
  compression: SnapshotCompression;
  /** The etcd revision the snapshot holds: its newest key, as `etcdutl snapshot status` reads it. */
  revision: string;
  /**
   * Where `revision` comes from: the snapshot's own keys, or (a database this version cannot read that way)
   * Status just before the stream, which writes during the stream make too low.
   */
  revisionFrom?: "snapshot" | "status-before-stream";
  clusterId: string;
  memberId: string;
  etcdVersion: string;
  /** Backend size reported by the member (Status.dbSize) when the snapshot started. */
  dbSizeBytes: number;
  /** The snapshot as etcd sent it (what `etcdutl snapshot restore` takes). */
  snapshotBytes: number;
  snapshotSha256: string;
  /** The object in the store (the above, compressed). */
  storedBytes: number;
  storedSha256: string;
  /** Set when the stored object is age-encrypted (snapshot-encryption.ts): gzip inside, age outside. */
  encryption?: SnapshotEncryption;
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

/** etcd's stream ended without error but is not a whole snapshot: short, or its sha256 trailer does not match. */
export class SnapshotIncompleteError extends Error {
  override readonly name = "SnapshotIncompleteError";
  readonly recoverable = true;
}

/** The store failed while the snapshot streamed into it (disk full, network, permissions). */
export class SnapshotUploadError extends Error {
  override readonly name = "SnapshotUploadError";
  /** The store's own verdict when it gave one (access denied is final, a timeout is not). */
  readonly recoverable: boolean;
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.recoverable = options.cause instanceof StoreWriteError ? options.cause.recoverable : true;
  }
}

/**
 * The store has less free space than the snapshot may take (the member's database size): refused before it
 * starts, so a store on etcd's own disk is never filled by a snapshot of it.
 */
export class InsufficientSpaceError extends Error {
  override readonly name = "InsufficientSpaceError";
  readonly recoverable = false;
  constructor(
    readonly store: string,
    readonly freeBytes: number,
    readonly expectedBytes: number,
  ) {
    super(`not enough free space in ${store}: ${freeBytes} bytes free, the snapshot may take up to ${expectedBytes} bytes (the member's database size); free space or move the store, nothing was written`);
  }
}

/** The caller stopped the snapshot (the coordinator shuts down or lost its lease); nothing was stored. */
export class SnapshotAbortedError extends Error {
  override readonly name = "SnapshotAbortedError";
  readonly recoverable = false;
}

export interface SaveSnapshotOptions {
  now?: () => Date;
  /** Default zstd. */
  compression?: SnapshotCompression;
  /**
   * Also read the whole stored object back and check it (a second full pass). Off by default: the first pass
   * already proves what the read-back would (see verifyInPass); `pairs verify` and restores read it back anyway.
   */
  readBack?: boolean;
  /** Aborting destroys the stream; the store removes its partial object and the call rejects with SnapshotAbortedError. */
  signal?: AbortSignal;
  /** age recipients (`age1...`): the stored object is encrypted to them after compression. */
  encryptTo?: readonly string[];
  /** Or a passphrase (age's scrypt, `age -p`): not together with recipients, as age allows. */
  encryptPassphrase?: string;
  /**
   * A stream that delivers nothing for this long (default 60 s) is a half-open connection: it fails with a
   * recoverable SnapshotStreamError (the caller retries) instead of holding a snapshot slot forever.
   */
  idleMs?: number;
  /** Called as the stream moves: bytes of the snapshot so far, and the size etcd announced for it. */
  onProgress?: (bytes: number, totalBytes: number | undefined) => void;
}

/** What the stages after etcd's stream move at a time. */
const OUTPUT_CHUNK_BYTES = 1024 * 1024;

/** etcd ends every snapshot stream with the sha256 of the database before it (what `etcdutl snapshot restore` checks). */
const TRAILER_BYTES = 32;

/**
 * What etcd sent, checked as it passes: the first message announces the database size (remaining_bytes), the last
 * carries the sha256 of everything before it. A stream that ends short or damaged fails here, so it is never stored.
 */
class SnapshotBytes extends Transform {
  bytes = 0;
  header: SnapshotChunk["header"] | undefined;
  private announced: number | undefined;
  private readonly dataHash = createHash("sha256");
  private tail = Buffer.alloc(0);
  private revisions: BoltRevisionReader | undefined;

  /** The revision read from the snapshot's keys, once the stream has ended. */
  revision(): number | undefined {
    return this.revisions?.revision();
  }

  constructor() {
    // Chunks from etcd are up to 1 MiB each (snapshot-response-decoder.ts): one waiting, not the 16 objects of
    // object mode's default.
    super({ writableObjectMode: true, writableHighWaterMark: 1, readableHighWaterMark: OUTPUT_CHUNK_BYTES });
  }

  /** Called for every chunk that passes: the stall watchdog. */
  onChunk?: () => void;

  override _transform(chunk: SnapshotChunk, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    this.onChunk?.();
    this.header ??= chunk.header ?? undefined;
    const blob = chunk.blob ?? Buffer.alloc(0);
    this.announced ??= Number(chunk.remaining_bytes) + blob.length;
    this.revisions ??= new BoltRevisionReader(this.announced);
    if (blob.length === 0) return done();
    this.revisions.update(blob);
    this.bytes += blob.length;
    // Everything but the last 32 bytes seen so far is database; those may be the trailer.
    if (blob.length >= TRAILER_BYTES) {
      this.dataHash.update(this.tail);
      this.dataHash.update(blob.subarray(0, blob.length - TRAILER_BYTES));
      this.tail = Buffer.from(blob.subarray(blob.length - TRAILER_BYTES));
    } else {
      const joined = Buffer.concat([this.tail, blob]);
      const cut = Math.max(0, joined.length - TRAILER_BYTES);
      this.dataHash.update(joined.subarray(0, cut));
      this.tail = Buffer.from(joined.subarray(cut));
    }
    // Smaller chunks (etcd's own 32 KiB messages, from a client that does not merge them) are gathered: passed on
    // one by one, every later stage (compression on the thread pool, hashing, the file write) would pay its
    // per-chunk round trip 30 times per MiB.
    this.pending.push(blob);
    this.pendingBytes += blob.length;
    if (this.pendingBytes >= OUTPUT_CHUNK_BYTES) this.pushPending();
    done();
  }

  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pushPending(): void {
    if (this.pendingBytes === 0) return;
    this.push(this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes));
    this.pending = [];
    this.pendingBytes = 0;
  }

  override _flush(done: (err?: Error | null) => void): void {
    this.pushPending();
    const expected = (this.announced ?? 0) + TRAILER_BYTES;
    if (this.announced === undefined || this.bytes !== expected) {
      return done(new SnapshotIncompleteError(`etcd's snapshot stream ended early: ${this.bytes} of ${expected} bytes (database and sha256 trailer)`));
    }
    // One hashing pass: the sha256 of the whole stream is the database's hash state continued with the trailer.
    this.sha256 = this.dataHash.copy().update(this.tail).digest("hex");
    if (!this.dataHash.digest().equals(this.tail)) {
      return done(new SnapshotIncompleteError(`the snapshot etcd sent does not match its own sha256 trailer (${expected} bytes): the stream was damaged`));
    }
    done();
  }

  /** The sha256 of everything etcd sent (database and trailer), once the stream has ended. */
  sha256 = "";
}

/**
 * Passes the compressed bytes on unchanged and decompresses a copy of them as they go: at the end, what comes
 * out must be what etcd sent. This is what reading the stored object back used to prove about the compression,
 * without a second pass over the store; the store itself hashes what it writes. How much is hashed again:
 * - zstd: nothing. The frame carries a checksum of the compressor's input, which is the very buffers hashed as
 *   etcd's bytes; the decompressor checks it at the frame's end and fails the stream on a mismatch.
 * - none: nothing when the store gets these bytes as they are: its sha256 must then equal the snapshot's.
 * - gzip (and none under encryption): a sha256 of the decompressed bytes, as before.
 */
export class RoundTripCheck extends Transform {
  private readonly inflate: Transform | undefined;
  private readonly hash: Hash | undefined;
  bytes = 0;

  constructor(compression: SnapshotCompression, key: string, private readonly storedAsIs: boolean) {
    super({ highWaterMark: OUTPUT_CHUNK_BYTES });
    this.hash = compression === "zstd" || storedAsIs ? undefined : createHash("sha256");
    if (storedAsIs) return;
    this.inflate = decompressor(compression);
    // Compression that does not round-trip: nothing is stored, and the error says the bytes were not as written.
    this.inflate.on("error", (err) => this.destroy(new SnapshotIntegrityError(key, { bytes: 0, sha256: "(what etcd sent)" }, { bytes: this.bytes, sha256: `(does not decompress: ${err.message})` })));
    this.inflate.on("data", (chunk: Buffer) => {
      this.hash?.update(chunk);
      this.bytes += chunk.length;
      releaseIfLast(chunk); // only counted and hashed: freed now, not at V8's next collection
    });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    if (!this.inflate) {
      this.bytes += chunk.length;
      return done(null, chunk);
    }
    if (this.inflate.write(chunk)) done(null, chunk);
    else this.inflate.once("drain", () => done(null, chunk));
  }

  override _flush(done: (err?: Error | null) => void): void {
    if (!this.inflate) return done();
    once(this.inflate, "end").then(() => done(), done);
    this.inflate.end();
  }

  /** What came out; sha256 undefined where the frame checksum or the store's hash stands for it (see above). */
  result(): { bytes: number; sha256?: string; storedAsIs: boolean } {
    return { bytes: this.bytes, sha256: this.hash?.digest("hex"), storedAsIs: this.storedAsIs };
  }
}

export async function saveSnapshot(client: EtcdMaintenance, store: ObjectStore, key: string, options: SaveSnapshotOptions = {}): Promise<SnapshotRecord> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  let status;
  try {
    status = await client.status();
  } catch (err) {
    throw new EtcdUnavailableError(`etcd is not reachable: ${(err as Error).message}`, { cause: err });
  }

  const free = await store.freeBytes?.().catch(() => undefined);
  const expected = Number(status.dbSize);
  if (free !== undefined && Number.isFinite(expected) && free < expected) throw new InsufficientSpaceError(store.url, free, expected);
  const compression = options.compression ?? DEFAULT_SNAPSHOT_COMPRESSION;
  const target = encryptionTarget(options);
  const blobs = new SnapshotBytes();
  const roundTrip = new RoundTripCheck(compression, key, compression === "none" && !target);
  let stored;
  // Which side broke first: an etcd error also destroys the store's input and a store error the etcd stream,
  // so the first error seen tells the operator where to look.
  let first: { side: "etcd" | "store"; error: Error } | undefined;
  let putFailure: unknown;
  let idle: NodeJS.Timeout | undefined;
  try {
    if (options.signal?.aborted) throw new SnapshotAbortedError("stopped before the snapshot started");
    const pool = new ChunkPool(SNAPSHOT_CHUNK_BYTES);
    const stream = await client.snapshot({ pool });
    const idleMs = options.idleMs ?? 60_000;
    const watchdog = () => {
      clearTimeout(idle);
      idle = setTimeout(() => stream.destroy(new SnapshotStreamError(`nothing moved for ${idleMs / 1000} s: etcd's stream (or the store) stalled`, { cause: undefined })), idleMs);
    };
    // Armed on every chunk that passes (both sides moving): a stall of etcd or of the store trips it.
    watchdog();
    blobs.onChunk = () => {
      watchdog();
      options.onProgress?.(blobs.bytes, Number.isFinite(expected) ? expected : undefined);
    };
    // A compressor reads etcd's chunks and passes on bytes of its own: it gives them back for the next ones.
    const compress = compression === "none" ? compressor(compression) : givingBackAfter(compressor(compression), pool);
    // Encryption is a stage of its own after compression (ciphertext does not compress): etcd -> sha256 ->
    // compress -> round-trip check -> encrypt -> store.
    const encrypt = target ? encryptStage(target) : undefined;
    stream.once("error", (error: Error) => (first ??= { side: "etcd", error }));
    blobs.once("error", (error: Error) => (first ??= { side: "etcd", error }));
    const stages = [stream, blobs, compress, roundTrip, ...(encrypt ? [encrypt] : [])];
    const out = stages.at(-1) as Transform;
    // The last stage is what the store reads: its errors (the store closing it) are the store's side.
    out.once("error", (error: Error) => (first ??= { side: "store", error }));
    const body = (pipeline as (...args: unknown[]) => Promise<void>)(...stages, ...(options.signal ? [{ signal: options.signal }] : [])).catch((err: unknown) => {
      out.destroy(err as Error); // make the store's write fail too, so nothing is published
      throw err;
    });
    // Wait for both sides: when the stream breaks, the store must have removed its partial object before we
    // report the failure (a caller may retry at once).
    // A store that gives up without consuming its input would leave the stream waiting: stop it here too.
    const putting = store.put(key, out).catch((err: unknown) => {
      out.destroy(err as Error);
      throw err;
    });
    const [put, streamed] = await Promise.allSettled([putting, body]);
    if (put.status === "rejected") putFailure = put.reason;
    if (streamed.status === "fulfilled" && put.status === "fulfilled") stored = put.value;
    else throw (streamed.status === "rejected" ? streamed.reason : undefined) ?? putFailure;
  } catch (err) {
    clearTimeout(idle);
    await store.delete(key).catch(() => undefined);
    if (options.signal?.aborted || err instanceof SnapshotAbortedError) throw new SnapshotAbortedError(`the snapshot into ${store.url}/${key} was stopped; nothing was stored`, { cause: err });
    // A store that gives up closes its input (or its error is passed on into the stream): what the stream then
    // reports — a premature close, or the store's own error — is not etcd's fault.
    const consequence = (e: Error) => e instanceof StoreWriteError || (e as NodeJS.ErrnoException).code === "ERR_STREAM_PREMATURE_CLOSE";
    if (first?.side === "store" || (putFailure instanceof StoreWriteError && (!first || consequence(first.error)))) {
      const cause = putFailure ?? first?.error;
      throw new SnapshotUploadError(`storing the snapshot failed: ${(cause as Error).message}`, { cause });
    }
    const cause = first?.error ?? (err as Error);
    throw new SnapshotStreamError(`the snapshot stream from etcd broke: ${cause.message}`, { cause, recoverable: !(cause instanceof EtcdCallError && cause.permanent) });
  }
  // Both sides are done: a watchdog left armed would hold the process (and a CLI's exit) for idleMs.
  clearTimeout(idle);
  const record: SnapshotRecord = {
    store: store.url,
    key,
    compression,
    revision: String(blobs.revision() ?? status.header.revision),
    revisionFrom: blobs.revision() !== undefined ? "snapshot" : "status-before-stream",
    clusterId: blobs.header?.cluster_id ?? status.header.cluster_id,
    memberId: blobs.header?.member_id ?? status.header.member_id,
    etcdVersion: status.version,
    dbSizeBytes: Number(status.dbSize),
    snapshotBytes: blobs.bytes,
    snapshotSha256: blobs.sha256,
    storedBytes: stored.size,
    storedSha256: stored.sha256,
    ...(target ? { encryption: "passphrase" in target ? { format: "age" as const, recipients: [], passphrase: true as const } : { format: "age" as const, recipients: [...target.recipients] } } : {}),
    startedAt: startedAt.toISOString(),
    finishedAt: now().toISOString(),
  };
  try {
    verifyInPass(record, roundTrip.result());
    // The object is there, whole: its size as the store reports it now.
    const head = await store.head(key);
    if (head?.size !== record.storedBytes) {
      throw new SnapshotIntegrityError(key, { bytes: record.storedBytes, sha256: record.storedSha256 }, { bytes: head?.size ?? 0, sha256: "(not read)" });
    }
    if (options.readBack) await verifyStoredSnapshot(store, record);
  } catch (err) {
    await store.delete(key).catch(() => undefined); // a snapshot that does not read back must not look like one
    throw err;
  }
  return record;
}

/** What the compressed bytes decompress to, as they went into the store, must be what etcd sent. */
function verifyInPass(record: SnapshotRecord, decompressed: ReturnType<RoundTripCheck["result"]>): void {
  const actual = decompressed.storedAsIs
    ? { bytes: record.storedBytes, sha256: record.storedSha256 }
    : { bytes: decompressed.bytes, sha256: decompressed.sha256 ?? record.snapshotSha256 };
  if (actual.bytes !== record.snapshotBytes || actual.sha256 !== record.snapshotSha256) {
    throw new SnapshotIntegrityError(record.key, { bytes: record.snapshotBytes, sha256: record.snapshotSha256 }, actual);
  }
}

/** Recipients or a passphrase, never both: an age file with a passphrase has no other recipient. */
function encryptionTarget(options: SaveSnapshotOptions): EncryptionTarget | undefined {
  const recipients = options.encryptTo ?? [];
  if (options.encryptPassphrase !== undefined && recipients.length > 0) {
    throw new SnapshotEncryptionError("a snapshot is encrypted either to recipients or with a passphrase, not both (age allows no other recipient beside a passphrase)");
  }
  if (options.encryptPassphrase !== undefined) return { passphrase: options.encryptPassphrase };
  return recipients.length > 0 ? { recipients } : undefined;
}

type VerifiableRecord = Pick<SnapshotRecord, "key" | "storedBytes" | "storedSha256" | "snapshotBytes" | "snapshotSha256" | "encryption"> & { compression?: SnapshotCompression };

/** The snapshot etcd sent, read from the store (decrypted and decompressed). */
export async function readSnapshotPlaintext(store: ObjectStore, record: Pick<SnapshotRecord, "key" | "encryption"> & { compression?: SnapshotCompression }, identities: readonly AgeIdentity[] = []): Promise<Readable> {
  const stages = plaintextStages(record, identities);
  const source = await store.get(record.key);
  const out = new PassThrough();
  (pipeline as (...args: unknown[]) => Promise<void>)(source, ...stages, out).catch((err: unknown) => out.destroy(err as Error));
  return out;
}

/**
 * Reads the stored object back: its size and hash, and the size and hash of the snapshot inside (read as the
 * record says it is compressed: records before zstd say gzip; without a record, the key's ending). An encrypted
 * snapshot without identities (the coordinator holds only public keys) is checked as stored: size and sha256 of
 * the ciphertext; with identities it is decrypted and the snapshot inside checked too. Returns what was checked.
 */
export async function verifyStoredSnapshot(store: ObjectStore, record: VerifiableRecord, identities: readonly AgeIdentity[] = []): Promise<"stored-and-snapshot" | "stored-only"> {
  const storedOnly = record.encryption !== undefined && identities.length === 0;
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
  const inner = storedOnly ? [] : [...plaintextStages(record, identities), tap(rawHash, (n) => (rawBytes += n))];
  try {
    await (pipeline as (...args: unknown[]) => Promise<void>)(await store.get(record.key), tap(storedHash, (n) => (storedBytes += n)), ...inner, sink);
  } catch (err) {
    // zlib's codes (Z_DATA_ERROR, ZSTD_error_...): the stored bytes are not what was written.
    const code = String((err as NodeJS.ErrnoException).code ?? "");
    if (!code.startsWith("Z_") && !code.startsWith("ZSTD_")) throw err;
    throw new SnapshotIntegrityError(record.key, { bytes: record.storedBytes, sha256: record.storedSha256 }, { bytes: storedBytes, sha256: `(not ${record.compression ?? compressionOfKey(record.key)} data: ${(err as Error).message})` });
  }
  const stored = { bytes: storedBytes, sha256: storedHash.digest("hex") };
  const raw = { bytes: rawBytes, sha256: rawHash.digest("hex") };
  if (stored.bytes !== record.storedBytes || stored.sha256 !== record.storedSha256) {
    throw new SnapshotIntegrityError(record.key, { bytes: record.storedBytes, sha256: record.storedSha256 }, stored);
  }
  if (storedOnly) return "stored-only";
  if (raw.bytes !== record.snapshotBytes || raw.sha256 !== record.snapshotSha256) {
    throw new SnapshotIntegrityError(record.key, { bytes: record.snapshotBytes, sha256: record.snapshotSha256 }, raw);
  }
  return "stored-and-snapshot";
}
