// etcd's Maintenance.Snapshot answer, decoded from the bytes of its HTTP/2 stream: gRPC's length-prefixed
// messages, each a SnapshotResponse (header = 1, remaining_bytes = 2, blob = 3, version = 4; proto/etcd).
// Why by hand: a 512 MiB database is 16,000 messages of 32 KiB, and through grpc-js each one was assembled,
// decoded into an object with 64-bit numbers turned into strings, and allocated on its own; that was a third of
// the snapshot's CPU and most of its memory churn. Here the blobs are copied straight into 1 MiB chunks, the
// size every later stage (hashing, compression, the store) moves at a time.
// A chunk is a run of messages merged: its blob is their blobs in order, its remaining_bytes what etcd still had
// to send after it, its header the stream's first header (null on later chunks). The first message is a chunk of
// its own: its remaining_bytes plus its blob is the size etcd announces for the database (etcd's sha256 trailer
// comes after, with remaining_bytes 0), which a merge with the trailer would blur on a small database.
import { ChunkPool } from "./chunk-pool.js";
import { decodeResponseHeader, EtcdWireError, forEachField, type EtcdHeader } from "./etcd-wire.js";

/** A run of SnapshotResponse messages, read as one. */
export interface SnapshotChunk {
  header: EtcdHeader | null;
  remaining_bytes: string;
  blob: Buffer;
}

/** How many snapshot bytes a chunk carries (the last one may carry fewer). */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;

/** A message longer than this is not etcd's (etcd's are 32 KiB of blob and a header): a length read from garbage. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const PREFIX_BYTES = 5;

export class SnapshotResponseDecoder {
  private readonly prefix = Buffer.alloc(PREFIX_BYTES);
  private prefixHave = 0;
  /** Length of the message being read; -1 while reading a prefix. */
  private messageLength = -1;
  /** A message that spans input buffers is gathered here (reused: etcd's are all about the same size). */
  private scratch = Buffer.alloc(0);
  private scratchHave = 0;
  private out: Buffer | undefined;
  private outHave = 0;
  private header: EtcdHeader | undefined;
  /** remaining_bytes of the last message read. */
  private remaining = 0n;
  private messages = 0;
  private chunks = 0;
  /** Chunks the message being decoded filled, emitted once all of its fields are read. */
  private filled: { blob: Buffer; blobAfter: number }[] = [];

  private readonly pool: ChunkPool;
  private readonly chunkBytes: number;

  /** Chunks are `chunkBytes` long, or taken from `pool` (whose consumer gives them back: chunk-pool.ts). */
  constructor(chunkBytesOrPool: number | ChunkPool = SNAPSHOT_CHUNK_BYTES) {
    this.pool = typeof chunkBytesOrPool === "number" ? new ChunkPool(chunkBytesOrPool) : chunkBytesOrPool;
    this.chunkBytes = this.pool.chunkBytes;
  }

  /** Takes the next bytes of the stream; returns the chunks they completed (usually none or one). */
  write(data: Buffer): SnapshotChunk[] {
    const done: SnapshotChunk[] = [];
    let pos = 0;
    while (pos < data.length) {
      if (this.messageLength < 0) {
        const n = Math.min(PREFIX_BYTES - this.prefixHave, data.length - pos);
        data.copy(this.prefix, this.prefixHave, pos, pos + n);
        this.prefixHave += n;
        pos += n;
        if (this.prefixHave < PREFIX_BYTES) break;
        this.prefixHave = 0;
        const flag = this.prefix[0]!;
        if (flag === 1) throw new EtcdWireError(`message ${this.messages + 1} is compressed, which etcd never does: this is not etcd's snapshot stream`);
        if (flag !== 0) throw new EtcdWireError(`message ${this.messages + 1} does not start with a gRPC prefix (first byte 0x${flag.toString(16)}): this is not etcd's snapshot stream`);
        const length = this.prefix.readUInt32BE(1);
        if (length > MAX_MESSAGE_BYTES) throw new EtcdWireError(`message ${this.messages + 1} announces ${length} bytes, more than any etcd sends: this is not etcd's snapshot stream`);
        this.messageLength = length;
        this.scratchHave = 0;
        if (length > 0) continue;
      }
      const length = this.messageLength;
      if (this.scratchHave === 0 && data.length - pos >= length) {
        this.decode(data, pos, pos + length, done);
        pos += length;
      } else {
        if (this.scratch.length < length) this.scratch = Buffer.allocUnsafe(length);
        const n = Math.min(length - this.scratchHave, data.length - pos);
        data.copy(this.scratch, this.scratchHave, pos, pos + n);
        this.scratchHave += n;
        pos += n;
        if (this.scratchHave < length) break;
        this.decode(this.scratch, 0, length, done);
      }
      this.messageLength = -1;
      this.scratchHave = 0;
    }
    return done;
  }

  /** The stream ended: the chunk in progress, or an error if it ended inside a message. */
  end(): SnapshotChunk[] {
    if (this.messageLength >= 0 || this.prefixHave > 0) {
      const part = this.messageLength >= 0 ? `${this.scratchHave} of its ${this.messageLength} bytes` : `${this.prefixHave} bytes of its 5-byte prefix`;
      throw new EtcdWireError(`etcd's snapshot stream ended inside message ${this.messages + 1} (${part})`);
    }
    const done: SnapshotChunk[] = [];
    if (this.outHave > 0) this.emit(done, this.out!.subarray(0, this.outHave), this.remaining);
    this.out = undefined;
    this.outHave = 0;
    return done;
  }

  private decode(m: Buffer, start: number, end: number, done: SnapshotChunk[]): void {
    this.messages++;
    forEachField(m, start, end, `message ${this.messages}`, (field, value) => {
      if (typeof value === "bigint") {
        if (field === 2) this.remaining = value;
      } else if (field === 1) this.header ??= decodeResponseHeader(m, value.from, value.to);
      else if (field === 3) this.append(m, value.from, value.to);
    });
    // Chunks filled by this message are finished now that all of its fields are read (remaining_bytes may come
    // after the blob): what etcd still had to send after each is this message's remaining_bytes plus the part
    // of its blob that went into later chunks.
    for (const { blob, blobAfter } of this.filled) this.emit(done, blob, this.remaining + BigInt(blobAfter));
    this.filled = [];
    if (this.messages === 1 && (this.outHave > 0 || this.chunks === 0)) {
      this.emit(done, this.out ? this.out.subarray(0, this.outHave) : Buffer.alloc(0), this.remaining);
      this.out = undefined;
      this.outHave = 0;
    }
  }

  private append(m: Buffer, from: number, to: number): void {
    while (from < to) {
      this.out ??= this.pool.take();
      const n = Math.min(to - from, this.chunkBytes - this.outHave);
      m.copy(this.out, this.outHave, from, from + n);
      this.outHave += n;
      from += n;
      if (this.outHave === this.chunkBytes) {
        this.filled.push({ blob: this.out, blobAfter: to - from });
        this.out = undefined;
        this.outHave = 0;
      }
    }
  }

  private emit(done: SnapshotChunk[], blob: Buffer, remaining: bigint): void {
    done.push({ header: this.chunks === 0 ? (this.header ?? null) : null, remaining_bytes: remaining.toString(), blob });
    this.chunks++;
  }
}
