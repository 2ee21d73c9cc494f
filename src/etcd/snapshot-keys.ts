// The keys of an etcd snapshot as of its revision, read offline from its bbolt file. etcd's mvcc store keeps bucket
// "key": revision {main u64 BE, '_', sub u64 BE, 't' on a tombstone} -> mvccpb.KeyValue {key=1, create_revision=2,
// mod_revision=3, version=4, value=5, lease=6}; history older than the last compaction may still be there. The
// latest revision of each key is the key's state at the snapshot's revision; a tombstone there means deleted.
// Two passes over the bucket: the first keeps each key's latest revision (a number per key, never a value), the
// second yields those values, so memory grows with the number of keys, not with their size.
import { BoltFile, BoltFormatError } from "./bolt-file.js";

export interface SnapshotKeyValue {
  key: string;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
}

interface KeyValueFields {
  key: Buffer;
  value?: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
}

function varint(buf: Buffer, at: { pos: number }): number {
  let result = 0;
  for (let shift = 0; shift < 64; shift += 7) {
    if (at.pos >= buf.length) throw new RangeError("truncated varint");
    const b = buf[at.pos++]!;
    result += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return result;
  }
  throw new RangeError("malformed varint");
}

/** mvccpb.KeyValue; `withValue` false skips copying the value. */
export function decodeKeyValue(buf: Buffer, withValue: boolean): KeyValueFields {
  const at = { pos: 0 };
  const out: KeyValueFields = { key: Buffer.alloc(0), createRevision: 0, modRevision: 0, version: 0 };
  while (at.pos < buf.length) {
    const tag = varint(buf, at);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      const v = varint(buf, at);
      if (field === 2) out.createRevision = v;
      else if (field === 3) out.modRevision = v;
      else if (field === 4) out.version = v;
    } else if (wire === 2) {
      const len = varint(buf, at);
      if (at.pos + len > buf.length) throw new RangeError("field runs past the end");
      if (field === 1) out.key = buf.subarray(at.pos, at.pos + len);
      else if (field === 5 && withValue) out.value = buf.subarray(at.pos, at.pos + len);
      at.pos += len;
    } else if (wire === 1) at.pos += 8;
    else if (wire === 5) at.pos += 4;
    else throw new RangeError(`wire type ${wire}`);
  }
  return out;
}

/** A revision key: main revision, and whether it is a tombstone. */
function revisionOf(key: Buffer): { main: number; tombstone: boolean } | undefined {
  if ((key.length !== 17 && key.length !== 18) || key[8] !== 0x5f) return undefined;
  return { main: Number(key.readBigUInt64BE(0)), tombstone: key.length === 18 && key[17] === 0x74 };
}

export interface SnapshotKeysOptions {
  /** Only keys starting with this (e.g. "/registry/"). */
  prefix?: string;
}

export class SnapshotReader {
  private constructor(private readonly bolt: BoltFile) {}

  static async open(file: string): Promise<SnapshotReader> {
    const bolt = await BoltFile.open(file);
    if (!(await bolt.hasBucket("key"))) {
      await bolt.close();
      throw new BoltFormatError(file, 'no "key" bucket: a bbolt file, but not an etcd v3 database');
    }
    return new SnapshotReader(bolt);
  }

  get file(): string {
    return this.bolt.file;
  }

  close(): Promise<void> {
    return this.bolt.close();
  }

  /** The snapshot's revision: the newest revision in bucket "key" (as `etcdutl snapshot status` reports it). */
  async revision(): Promise<number> {
    let newest = 0;
    for await (const { key } of this.bolt.bucket("key")) newest = Math.max(newest, revisionOf(key)?.main ?? 0);
    return newest;
  }

  /** Every live key (latest revision not a tombstone), in revision order of their last change. */
  async *latest(opts: SnapshotKeysOptions = {}): AsyncGenerator<SnapshotKeyValue> {
    const prefix = opts.prefix ? Buffer.from(opts.prefix) : undefined;
    const newest = new Map<string, number>();
    for await (const { key, value } of this.bolt.bucket("key")) {
      const rev = revisionOf(key);
      if (!rev) continue;
      const kv = this.decode(value, false, key);
      if (prefix && !kv.key.subarray(0, prefix.length).equals(prefix)) continue;
      newest.set(kv.key.toString("latin1"), rev.tombstone ? -rev.main : rev.main);
    }
    for await (const { key, value } of this.bolt.bucket("key")) {
      const rev = revisionOf(key);
      if (!rev || rev.tombstone) continue;
      const kv = this.decode(value, true, key);
      const name = kv.key.toString("latin1");
      if (newest.get(name) !== rev.main) continue;
      yield { key: Buffer.from(name, "latin1").toString("utf8"), value: Buffer.from(kv.value ?? Buffer.alloc(0)), createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version };
    }
  }

  private decode(value: Buffer, withValue: boolean, revisionKey: Buffer): KeyValueFields {
    try {
      return decodeKeyValue(value, withValue);
    } catch (err) {
      throw new BoltFormatError(this.bolt.file, `revision ${revisionKey.toString("hex")} holds no mvcc KeyValue (${(err as Error).message})`);
    }
  }
}
