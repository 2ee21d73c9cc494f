// The snapshot's chunk buffers, reused once the compressor has read them: reuse must never change what was
// compressed, and buffers the pool did not make are never handed out.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { createHash } from "node:crypto";
import { gunzipSync, zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { ChunkPool, givingBackAfter, releaseIfLast } from "../../src/etcd/chunk-pool.js";
import { compressor, decompressor } from "../../src/etcd/compression.js";

describe("the chunk pool", () => {
  it("hands a buffer given back out again, and makes a new one when none is free", () => {
    const pool = new ChunkPool(1024);
    const a = pool.take();
    const b = pool.take();
    assert.notEqual(a.buffer, b.buffer);
    pool.give(a);
    assert.equal(pool.take().buffer, a.buffer);
    assert.notEqual(pool.take().buffer, a.buffer);
  });

  it("takes back a part of its buffer (the last, shorter chunk) as the whole buffer", () => {
    const pool = new ChunkPool(1024);
    const a = pool.take();
    pool.give(a.subarray(0, 10));
    const again = pool.take();
    assert.equal(again.buffer, a.buffer);
    assert.equal(again.length, 1024);
  });

  it("ignores buffers it did not make, and a buffer given back twice is handed out once", () => {
    const pool = new ChunkPool(1024);
    pool.give(Buffer.allocUnsafeSlow(1024));
    pool.give(Buffer.alloc(0));
    const a = pool.take();
    assert.ok(a.length === 1024);
    pool.give(a);
    pool.give(a);
    const first = pool.take();
    const second = pool.take();
    assert.equal(first.buffer, a.buffer);
    assert.notEqual(second.buffer, a.buffer, "the same memory would back two chunks at once");
  });

  it("keeps at most `keep` free buffers", () => {
    const pool = new ChunkPool(16, 2);
    const taken = [pool.take(), pool.take(), pool.take()];
    for (const t of taken) pool.give(t);
    const again = [pool.take(), pool.take(), pool.take()].map((b) => b.buffer);
    assert.equal(again.filter((m) => taken.some((t) => t.buffer === m)).length, 2);
  });

  for (const compression of ["zstd", "gzip"] as const) {
    it(`a ${compression} compressor gives every chunk back only after reading it: overwriting it then changes nothing`, async () => {
      const pool = new ChunkPool(64 * 1024);
      const original = randomBytes(40 * 64 * 1024);
      let given = 0;
      const give = pool.give.bind(pool);
      pool.give = (chunk) => {
        given++;
        chunk.fill(0xee); // what the next chunk copied into this buffer would do
        give(chunk);
      };
      const chunks = (function* () {
        for (let at = 0; at < original.length; at += 64 * 1024) {
          const chunk = pool.take();
          original.copy(chunk, 0, at, at + 64 * 1024);
          yield chunk;
        }
      })();
      const out: Buffer[] = [];
      await pipeline(Readable.from(chunks), givingBackAfter(compressor(compression), pool), new Writable({ write: (c: Buffer, _e, done) => (out.push(c), done()) }));
      const compressed = Buffer.concat(out);
      const back = compression === "zstd" ? zstdDecompressSync(compressed) : gunzipSync(compressed);
      assert.ok(back.equals(original));
      assert.ok(given >= 40, "every chunk (and any empty chunk the compressor writes itself at the end, which the pool ignores)");
    });
  }

  describe("releasing a decompressed copy as soon as it is read", () => {
    it("frees each of zlib's output buffers at its last slice, and what comes out after is still right", async () => {
      // 3.5 MiB of half-compressible bytes: the decompressor's 1 MiB buffers fill in several slices each.
      const original = Buffer.concat([randomBytes(1792 * 1024), Buffer.alloc(1792 * 1024, "etcd ")]);
      const inflate = decompressor("zstd");
      const hash = createHash("sha256");
      const slices: Buffer[] = [];
      inflate.on("data", (chunk: Buffer) => {
        hash.update(chunk);
        slices.push(chunk);
        releaseIfLast(chunk);
      });
      const compressed = zstdCompressSync(original);
      const input = [compressed.subarray(0, 1000), compressed.subarray(1000, 300_000), compressed.subarray(300_000)];
      await pipeline(Readable.from(input), inflate);
      assert.equal(hash.digest("hex"), createHash("sha256").update(original).digest("hex"));
      const detached = (s: Buffer) => (s.buffer as ArrayBuffer).detached;
      const freed = slices.filter(detached);
      assert.ok(freed.length >= 3, `3 full buffers of 1 MiB freed (got ${freed.length})`);
      assert.ok(freed.every((s) => s.length === 0), "a freed buffer reads as empty: nothing can read stale bytes from it");
      assert.ok(!detached(slices.at(-1)!), "the last buffer, half filled, is left to V8");
    });

    it("leaves a slice that does not reach its buffer's end, and Buffer's shared 8 KiB pool, alone", () => {
      const big = Buffer.allocUnsafe(1024 * 1024);
      releaseIfLast(big.subarray(0, 1000));
      assert.equal(big.length, 1024 * 1024);
      const pooled = Buffer.from("x".repeat(100));
      const neighbour = Buffer.from("y".repeat(100));
      releaseIfLast(pooled.subarray(0, pooled.length));
      releaseIfLast(Buffer.from((pooled.buffer as ArrayBuffer), pooled.byteOffset, (pooled.buffer as ArrayBuffer).byteLength - pooled.byteOffset));
      assert.equal(neighbour.toString(), "y".repeat(100));
    });
  });
});
