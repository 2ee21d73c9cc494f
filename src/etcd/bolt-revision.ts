// The etcd revision a snapshot holds, read from the snapshot's own bytes as they stream past. etcd 3.6 sends no
// response header with Snapshot, and a Status call before the stream is stale as soon as anything writes (leases,
// events, Velero): the revision is the newest key of the "key" bucket, as `etcdutl snapshot status` computes it.
//
// The snapshot is a bbolt file (go.etcd.io/bbolt: page.go, node.go, bucket.go, db.go): pages in no particular
// order, each starting with {id u64, flags u16, count u16, overflow u32} (native byte order, little-endian on every
// platform etcd ships for). Pages can only be read once, in file order, so a small index is kept while streaming —
// each branch page's last child, each revision-key leaf's newest revision, each bucket's root — and the tree is
// walked at the end: root bucket -> "key" bucket -> rightmost leaf. Memory: 8 bytes per page of the database
// (0.2% of its size) plus the current page run. Pages are read where they lie in the caller's buffers; only a page
// split between two of them, and a run, are copied.

const HEADER = 16;
const ELEMENT = 16;
const BRANCH = 0x01;
const LEAF = 0x02;
const META = 0x04;
const FREELIST = 0x10;
const BUCKET_ELEMENT = 0x01;
const MAGIC = 0xed0cdaed;
/** A page run (a page and its overflow) larger than this is not read (etcd values are at most a few MiB). */
const MAX_RUN_BYTES = 64 * 2 ** 20;

/** A scratch buffer larger than this (a run of a large value) is let go after its run. */
const KEEP_SCRATCH_BYTES = 4 * 2 ** 20;

interface Meta {
  root: number;
  txid: bigint;
}

export class BoltRevisionReader {
  private pageSize = 0;
  /** The start of the file, until its first meta page tells the page size. */
  private head: Buffer[] = [];
  private headBytes = 0;
  /** A page split between two updates, gathered here (reused). */
  private partial = Buffer.alloc(0);
  private partialHave = 0;
  private nextPage = 0;
  private readonly metas: Meta[] = [];
  /**
   * The page run being gathered: a page with overflow pages, which follow it in the file and belong to it (they
   * have no header of their own). Gathered into `scratch`, reused from run to run; skipped runs are only counted.
   */
  private run: { pgid: number; have: number; bytes: number; skip: boolean } | undefined;
  private scratch = Buffer.alloc(0);
  private readonly lastChild = new Map<number, number>();
  private newestRevision: Float64Array;
  private readonly buckets = new Map<number, Map<string, { root: number; inlineRevision?: number }>>();
  private broken = false;

  /** `databaseBytes`: the size etcd announced (the snapshot without its sha256 trailer). */
  constructor(private readonly databaseBytes: number) {
    this.newestRevision = new Float64Array(0);
  }

  /** The next bytes of the file. They are read now, not kept: the caller may reuse them. */
  update(bytes: Buffer): void {
    if (this.broken) return;
    if (this.pageSize === 0) {
      this.head.push(Buffer.from(bytes));
      this.headBytes += bytes.length;
      if (this.headBytes < HEADER + 12) return;
      const head = Buffer.concat(this.head);
      this.head = [];
      if (head.readUInt32LE(HEADER) !== MAGIC) return void (this.broken = true);
      this.pageSize = head.readUInt32LE(HEADER + 8);
      if (this.pageSize < 512 || this.pageSize > 65536) return void (this.broken = true);
      this.newestRevision = new Float64Array(Math.ceil(this.databaseBytes / this.pageSize)).fill(Number.NaN);
      this.partial = Buffer.alloc(this.pageSize);
      return this.pages(head);
    }
    this.pages(bytes);
  }

  private pages(bytes: Buffer): void {
    let at = 0;
    if (this.partialHave > 0) {
      const n = Math.min(this.pageSize - this.partialHave, bytes.length);
      bytes.copy(this.partial, this.partialHave, 0, n);
      this.partialHave += n;
      at = n;
      if (this.partialHave < this.pageSize) return;
      this.partialHave = 0;
      this.page(this.nextPage++, this.partial);
    }
    for (; bytes.length - at >= this.pageSize; at += this.pageSize) this.page(this.nextPage++, bytes.subarray(at, at + this.pageSize));
    if (at < bytes.length) this.partialHave = bytes.copy(this.partial, 0, at);
  }

  /** The revision, or undefined when the file could not be read this way (then the caller says so). */
  revision(): number | undefined {
    if (this.broken) return undefined;
    const meta = this.metas.sort((a, b) => (a.txid < b.txid ? 1 : -1))[0];
    const key = meta ? this.buckets.get(meta.root)?.get("key") : undefined;
    if (!key) return undefined;
    if (key.inlineRevision !== undefined) return key.inlineRevision;
    let pgid = key.root;
    for (let depth = 0; this.lastChild.has(pgid) && depth < 64; depth++) pgid = this.lastChild.get(pgid)!;
    const rev = this.newestRevision[pgid];
    return rev === undefined || Number.isNaN(rev) ? undefined : rev;
  }

  private page(pgid: number, bytes: Buffer): void {
    const run = this.run;
    if (run) {
      if (!run.skip) bytes.copy(this.scratch, run.have);
      run.have += bytes.length;
      if (run.have < run.bytes) return;
      this.run = undefined;
      if (!run.skip) this.parse(run.pgid, this.scratch.subarray(0, run.bytes));
      if (this.scratch.length > KEEP_SCRATCH_BYTES) this.scratch = Buffer.alloc(0); // a rare large value: not kept
      return;
    }
    // A page starts where its header names its own id; free pages hold other bytes.
    if (bytes.readUInt32LE(0) !== pgid % 2 ** 32 || bytes.readUInt32LE(4) !== Math.floor(pgid / 2 ** 32)) return;
    const flags = bytes.readUInt16LE(8);
    if (flags !== BRANCH && flags !== LEAF && flags !== META && flags !== FREELIST) return;
    const overflow = bytes.readUInt32LE(12);
    if (overflow === 0) return this.parse(pgid, bytes);
    const runBytes = (overflow + 1) * this.pageSize;
    const skip = runBytes > MAX_RUN_BYTES || flags === FREELIST;
    if (!skip) {
      if (this.scratch.length < runBytes) this.scratch = Buffer.allocUnsafe(runBytes);
      bytes.copy(this.scratch, 0);
    }
    this.run = { pgid, have: bytes.length, bytes: runBytes, skip };
  }

  private parse(pgid: number, bytes: Buffer): void {
    const flags = bytes.readUInt16LE(8);
    const count = bytes.readUInt16LE(10);
    if (flags === META) {
      if (bytes.readUInt32LE(HEADER) === MAGIC) this.metas.push({ root: Number(bytes.readBigUInt64LE(HEADER + 16)), txid: bytes.readBigUInt64LE(HEADER + 48) });
    } else if (flags === BRANCH && count > 0) {
      const last = HEADER + (count - 1) * ELEMENT;
      if (last + ELEMENT <= bytes.length) this.lastChild.set(pgid, Number(bytes.readBigUInt64LE(last + 8)));
    } else if (flags === LEAF) {
      const leaf = readLeaf(bytes, 0);
      if (leaf.buckets.size > 0) this.buckets.set(pgid, leaf.buckets);
      if (leaf.newestRevision !== undefined && pgid < this.newestRevision.length) this.newestRevision[pgid] = leaf.newestRevision;
    }
  }
}

/** A leaf page at `base`: its buckets (name -> root page, or the revision of an inline bucket) and newest revision key. */
function readLeaf(bytes: Buffer, base: number): { buckets: Map<string, { root: number; inlineRevision?: number }>; newestRevision?: number } {
  const count = bytes.readUInt16LE(base + 10);
  const buckets = new Map<string, { root: number; inlineRevision?: number }>();
  let newest: number | undefined;
  let allRevisionKeys = count > 0;
  for (let i = 0; i < count; i++) {
    const el = base + HEADER + i * ELEMENT;
    if (el + ELEMENT > bytes.length) return { buckets };
    const elFlags = bytes.readUInt32LE(el);
    const pos = bytes.readUInt32LE(el + 4);
    const ksize = bytes.readUInt32LE(el + 8);
    const vsize = bytes.readUInt32LE(el + 12);
    const k = el + pos;
    if (k + ksize + vsize > bytes.length) return { buckets };
    if (elFlags & BUCKET_ELEMENT) {
      allRevisionKeys = false;
      const root = Number(bytes.readBigUInt64LE(k + ksize));
      // An inline bucket (small enough to live in its parent) holds its page in the value; an empty "key" bucket
      // is revision 0 for etcdutl too.
      const inlinePage = root === 0 && vsize >= 2 * HEADER ? k + ksize + HEADER : undefined;
      const inline = inlinePage === undefined ? undefined : bytes.readUInt16LE(inlinePage + 10) === 0 ? 0 : readLeaf(bytes, inlinePage).newestRevision;
      buckets.set(bytes.toString("utf8", k, k + ksize), { root, ...(inline !== undefined ? { inlineRevision: inline } : {}) });
    } else if ((ksize === 17 || ksize === 18) && bytes[k + 8] === 0x5f) {
      // mvcc revision keys: 8-byte big-endian main revision, '_', 8-byte sub revision, 't' on a tombstone
      const main = Number(bytes.readBigUInt64BE(k));
      newest = newest === undefined ? main : Math.max(newest, main);
    } else allRevisionKeys = false;
  }
  return { buckets, ...(allRevisionKeys && newest !== undefined ? { newestRevision: newest } : {}) };
}
