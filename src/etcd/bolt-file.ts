// A read-only reader of a bbolt database file (an etcd snapshot), for reading a snapshot offline without etcd.
// Layout (go.etcd.io/bbolt: page.go, node.go, bucket.go, db.go), little-endian:
//   page header  {id u64, flags u16, count u16, overflow u32}; a page and its `overflow` followers form one run
//   meta (pages 0 and 1) {magic u32, version u32, pageSize u32, flags u32, root {pgid u64, sequence u64},
//                         freelist u64, pgid u64, txid u64, checksum u64 (FNV-1a 64 of the fields before it)}
//   branch element {pos u32, ksize u32, pgid u64};  leaf element {flags u32, pos u32, ksize u32, vsize u32}
//   bucket value {root u64, sequence u64} followed, when root is 0, by an inline leaf page
// The tree is walked from the newest valid meta page, depth first, one page run in memory at a time; the freelist
// is never read (pages reachable from the root are the live ones, whatever the freelist format).
import { open, type FileHandle } from "node:fs/promises";

const HEADER = 16;
const ELEMENT = 16;
const BRANCH = 0x01;
const LEAF = 0x02;
const META = 0x04;
const BUCKET_ELEMENT = 0x01;
const MAGIC = 0xed0cdaed;
const VERSION = 2;
/** A page run larger than this is refused as damage (etcd limits values to a few MiB). */
const MAX_RUN_BYTES = 256 * 2 ** 20;
/** Deeper than any real B+tree of this page size: a cycle or damage. */
const MAX_DEPTH = 64;

export class BoltFormatError extends Error {
  override readonly name = "BoltFormatError";
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: not a readable bbolt (etcd snapshot) file: ${reason}`);
  }
}

export interface BoltEntry {
  key: Buffer;
  value: Buffer;
}

interface Meta {
  root: bigint;
  txid: bigint;
  pageSize: number;
}

function fnv1a64(bytes: Buffer): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const b of bytes) hash = BigInt.asUintN(64, (hash ^ BigInt(b)) * 0x100000001b3n);
  return hash;
}

export class BoltFile {
  private constructor(
    private readonly handle: FileHandle,
    readonly file: string,
    readonly size: number,
    readonly pageSize: number,
    private readonly root: bigint,
    /** The transaction id of the meta page in use. */
    readonly txid: bigint,
  ) {}

  static async open(file: string): Promise<BoltFile> {
    const handle = await open(file, "r");
    try {
      const size = (await handle.stat()).size;
      const first = Buffer.alloc(Math.min(size, 4096));
      await handle.read(first, 0, first.length, 0);
      const meta0 = readMeta(first, 0);
      const pageSize = meta0?.pageSize ?? 4096;
      const second = Buffer.alloc(Math.min(pageSize, Math.max(0, size - pageSize)));
      if (second.length > 0) await handle.read(second, 0, second.length, pageSize);
      const meta1 = second.length >= HEADER + 64 ? readMeta(second, 0) : undefined;
      const meta = [meta0, meta1].filter((m): m is Meta => m !== undefined).sort((a, b) => (a.txid < b.txid ? 1 : -1))[0];
      if (!meta) throw new BoltFormatError(file, size < 1024 ? `only ${size} bytes` : "no valid meta page (wrong magic, version or checksum)");
      return new BoltFile(handle, file, size, meta.pageSize, meta.root, meta.txid);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  /** The entries of a top-level bucket, in key order; undefined when there is no such bucket. */
  async *bucket(name: string): AsyncGenerator<BoltEntry> {
    let found: Buffer | undefined;
    for await (const entry of this.walk(this.root, undefined, 0, true)) {
      if (entry.bucket && entry.key.toString("latin1") === name) {
        found = entry.value;
        break;
      }
    }
    if (!found) return;
    if (found.length < 16) throw new BoltFormatError(this.file, `bucket "${name}" header is ${found.length} bytes`);
    const root = found.readBigUInt64LE(0);
    for await (const e of this.walk(root, root === 0n ? found.subarray(16) : undefined, 0, false)) if (!e.bucket) yield { key: e.key, value: e.value };
  }

  async hasBucket(name: string): Promise<boolean> {
    for await (const entry of this.walk(this.root, undefined, 0, true)) if (entry.bucket && entry.key.toString("latin1") === name) return true;
    return false;
  }

  private async *walk(pgid: bigint, inline: Buffer | undefined, depth: number, copy: boolean): AsyncGenerator<BoltEntry & { bucket: boolean }> {
    if (depth > MAX_DEPTH) throw new BoltFormatError(this.file, "tree deeper than 64 levels (a cycle?)");
    const page = inline ?? (await this.readRun(pgid));
    const flags = page.readUInt16LE(8);
    const count = page.readUInt16LE(10);
    if (HEADER + count * ELEMENT > page.length) throw new BoltFormatError(this.file, `page ${pgid} claims ${count} elements`);
    if (flags & BRANCH) {
      for (let i = 0; i < count; i++) {
        const child = page.readBigUInt64LE(HEADER + i * ELEMENT + 8);
        yield* this.walk(child, undefined, depth + 1, copy);
      }
      return;
    }
    if (!(flags & LEAF)) throw new BoltFormatError(this.file, `page ${pgid} is neither branch nor leaf (flags 0x${flags.toString(16)})`);
    for (let i = 0; i < count; i++) {
      const el = HEADER + i * ELEMENT;
      const elFlags = page.readUInt32LE(el);
      const pos = page.readUInt32LE(el + 4);
      const ksize = page.readUInt32LE(el + 8);
      const vsize = page.readUInt32LE(el + 12);
      const k = el + pos;
      if (k + ksize + vsize > page.length) throw new BoltFormatError(this.file, `page ${pgid} element ${i} runs past its page`);
      const key = page.subarray(k, k + ksize);
      const value = page.subarray(k + ksize, k + ksize + vsize);
      yield { key: copy ? Buffer.from(key) : key, value: copy ? Buffer.from(value) : value, bucket: (elFlags & BUCKET_ELEMENT) !== 0 };
    }
  }

  private async readRun(pgid: bigint): Promise<Buffer> {
    const offset = Number(pgid) * this.pageSize;
    if (pgid < 2n || offset + HEADER > this.size) throw new BoltFormatError(this.file, `page ${pgid} is outside the file (${this.size} bytes)`);
    const head = Buffer.alloc(this.pageSize);
    const { bytesRead } = await this.handle.read(head, 0, Math.min(this.pageSize, this.size - offset), offset);
    if (bytesRead < HEADER) throw new BoltFormatError(this.file, `page ${pgid} is truncated`);
    if (head.readBigUInt64LE(0) !== pgid) throw new BoltFormatError(this.file, `page ${pgid} carries id ${head.readBigUInt64LE(0)}`);
    const overflow = head.readUInt32LE(12);
    if (overflow === 0) return head;
    const bytes = (overflow + 1) * this.pageSize;
    if (bytes > MAX_RUN_BYTES || offset + bytes > this.size + this.pageSize) throw new BoltFormatError(this.file, `page ${pgid} claims ${overflow} overflow pages`);
    const run = Buffer.alloc(bytes);
    head.copy(run);
    await this.handle.read(run, this.pageSize, Math.min(bytes, this.size - offset) - this.pageSize, offset + this.pageSize);
    return run;
  }
}

function readMeta(bytes: Buffer, at: number): Meta | undefined {
  if (bytes.length < at + HEADER + 64) return undefined;
  if ((bytes.readUInt16LE(at + 8) & META) === 0) return undefined;
  const m = at + HEADER;
  if (bytes.readUInt32LE(m) !== MAGIC || bytes.readUInt32LE(m + 4) !== VERSION) return undefined;
  if (fnv1a64(bytes.subarray(m, m + 56)) !== bytes.readBigUInt64LE(m + 56)) return undefined;
  const pageSize = bytes.readUInt32LE(m + 8);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return undefined;
  return { pageSize, root: bytes.readBigUInt64LE(m + 16), txid: bytes.readBigUInt64LE(m + 48) };
}
