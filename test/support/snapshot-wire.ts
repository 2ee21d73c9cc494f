// etcd's snapshot stream written by hand from the proto (etcd/api/etcdserverpb/rpc.proto: SnapshotResponse has
// header = 1, remaining_bytes = 2, blob = 3, version = 4), framed as gRPC frames messages: the inputs of the
// decoder's tests and the answers of the loopback servers that stand in for etcd.
import { createHash } from "node:crypto";


export function varint(n: bigint): Buffer {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? byte | 0x80 : byte);
  } while (v > 0n);
  return Buffer.from(out);
}
export const key = (field: number, wire: number) => varint(BigInt((field << 3) | wire));
export const bytesField = (field: number, value: Buffer) => Buffer.concat([key(field, 2), varint(BigInt(value.length)), value]);
export const numberField = (field: number, value: bigint) => Buffer.concat([key(field, 0), varint(value)]);

export interface Message {
  header?: { cluster_id: bigint; member_id: bigint; revision: bigint; raft_term?: bigint };
  remaining?: bigint;
  blob?: Buffer;
  version?: string;
}

/** Fields in the order etcd's Go encoder writes them; `order` lets a test put them the other way round. */
export function encode(m: Message, order: "proto" | "blob-first" = "proto"): Buffer {
  const header = m.header
    ? bytesField(1, Buffer.concat([numberField(1, m.header.cluster_id), numberField(2, m.header.member_id), numberField(3, m.header.revision), numberField(4, m.header.raft_term ?? 2n)]))
    : Buffer.alloc(0);
  const remaining = m.remaining !== undefined ? numberField(2, m.remaining) : Buffer.alloc(0);
  const blob = m.blob ? bytesField(3, m.blob) : Buffer.alloc(0);
  const version = m.version ? bytesField(4, Buffer.from(m.version)) : Buffer.alloc(0);
  const body = order === "proto" ? Buffer.concat([header, remaining, blob, version]) : Buffer.concat([blob, version, remaining, header]);
  return frame(body);
}

export function frame(body: Buffer, flag = 0): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flag;
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

/** A database sent as etcd does: 32 KiB blobs, remaining_bytes counting down, header first. */
export function etcdStream(db: Buffer, blobBytes = 32 * 1024): Buffer {
  const messages: Buffer[] = [];
  for (let at = 0; at < db.length; at += blobBytes) {
    const blob = db.subarray(at, at + blobBytes);
    messages.push(encode({
      ...(at === 0 ? { header: { cluster_id: 0xcdef_0123_4567_89abn, member_id: 42n, revision: 123_456n } } : {}),
      remaining: BigInt(db.length - at - blob.length),
      blob,
      version: "3.6.0",
    }));
  }
  return Buffer.concat(messages);
}

/**
 * The stream etcd 3.6 sends for a database (server/etcdserver/api/v3rpc/maintenance.go): a first message with the
 * header and the database size, the database in blobs with remaining_bytes counting down, then its sha256 as a
 * last blob with remaining_bytes 0.
 */
export function etcdSnapshotBody(db: Buffer, blobBytes = 32 * 1024): Buffer {
  const messages = [encode({ header: { cluster_id: 1n, member_id: 2n, revision: 77n }, remaining: BigInt(db.length), version: "3.6.0" })];
  for (let at = 0; at < db.length; at += blobBytes) {
    const blob = db.subarray(at, at + blobBytes);
    messages.push(encode({ remaining: BigInt(db.length - at - blob.length), blob }));
  }
  messages.push(encode({ remaining: 0n, blob: createHash("sha256").update(db).digest() }));
  return Buffer.concat(messages);
}
