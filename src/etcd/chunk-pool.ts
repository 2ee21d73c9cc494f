// The 1 MiB buffers a snapshot's chunks are copied into, reused once the compressor has read them.
// Why: each buffer is memory outside V8's heap, which V8 reclaims only when a garbage collection finds its owner
// dead. A snapshot allocates them faster than scavenges run (it makes little other garbage), so V8 fell back to
// full mark-compacts, 79 of them for 512 MiB: a third more CPU than the stream itself. With the buffers reused
// the same snapshot took 2 (measured with --trace-gc; see README, "Measured").
import type { Transform } from "node:stream";

export class ChunkPool {
  private readonly free: Buffer[] = [];
  /** The pool's own buffers (by their memory), and which of them are free now. */
  private readonly made = new WeakSet<ArrayBuffer>();
  private readonly freeNow = new WeakSet<ArrayBuffer>();

  constructor(
    readonly chunkBytes: number,
    /** Free buffers kept at most: what the stages between taking and giving back hold, with room to spare. */
    private readonly keep = 8,
  ) {}

  take(): Buffer {
    const reused = this.free.pop();
    if (reused) {
      this.freeNow.delete(reused.buffer as ArrayBuffer);
      return reused;
    }
    const fresh = Buffer.allocUnsafeSlow(this.chunkBytes);
    this.made.add(fresh.buffer as ArrayBuffer);
    return fresh;
  }

  /**
   * A chunk nothing reads any more: its buffer is taken again. Chunks of other buffers (a stage that copied,
   * an empty chunk) are left to the garbage collector, as is a buffer given back twice.
   */
  give(chunk: Buffer): void {
    const memory = chunk.buffer as ArrayBuffer;
    if (!this.made.has(memory) || this.freeNow.has(memory) || this.free.length >= this.keep) return;
    this.freeNow.add(memory);
    this.free.push(Buffer.from(memory));
  }
}

/**
 * `stage` gives every chunk it was written back to `pool` once it has read it: a zlib stream calls its
 * transform callback when the native side has consumed the whole input, and keeps no reference after.
 * Only for stages that read their input and pass on bytes of their own (compressors), never for one that
 * passes its input on.
 */
export function givingBackAfter<T extends Transform>(stage: T, pool: ChunkPool): T {
  const transform = stage._transform.bind(stage);
  stage._transform = (chunk: Buffer, encoding, done) =>
    transform(chunk, encoding, (err?: Error | null, data?: unknown) => {
      pool.give(chunk);
      done(err, data);
    });
  return stage;
}

/**
 * Frees a zlib output chunk's memory now, when nothing but its reader ever holds it (a decompressed copy that is
 * only counted and hashed). V8 frees such memory only when a collection finds it dead, and collects it lazily:
 * a 512 MiB snapshot held 10-15 MiB of decompressed copies at a time. zlib writes its output into one buffer in
 * slices and takes a new buffer once a slice reaches the end, so the slice reaching the end is the buffer's last.
 * Never for small buffers: those share Buffer's 8 KiB pool with unrelated ones.
 */
export function releaseIfLast(chunk: Buffer): void {
  const memory = chunk.buffer as ArrayBuffer;
  if (memory.detached || memory.byteLength <= Buffer.poolSize) return;
  if (chunk.byteOffset + chunk.length === memory.byteLength) memory.transfer(0);
}
