// The protobuf of etcd's Maintenance answers that twinsnap reads (proto/etcd/rpc.proto), decoded by hand: a
// ResponseHeader and a StatusResponse. Snapshot messages have their own decoder (snapshot-response-decoder.ts),
// which uses the readers here. Numbers stay exact: 64-bit values become decimal strings, as grpc-js gave them.

/** What etcd says about itself in a response: numbers as decimal strings (they are 64-bit). */
export interface EtcdHeader {
  cluster_id: string;
  member_id: string;
  revision: string;
}

export interface EtcdStatus {
  header: EtcdHeader;
  version: string;
  dbSize: string;
  leader: string;
  errors: string[];
}

/** The bytes are not the message etcd sends (a proxy, another server, a damaged stream). */
export class EtcdWireError extends Error {
  override readonly name = "EtcdWireError";
}

/** A base-128 varint at b[i]: its value and the index after it. */
export function readVarint(b: Buffer, i: number, end: number): [bigint, number] {
  let value = 0n;
  let shift = 0n;
  for (;;) {
    if (i >= end) throw new EtcdWireError("a number runs past the message's end");
    const byte = b[i++]!;
    value |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return [value, i];
    shift += 7n;
    if (shift > 63n) throw new EtcdWireError("a number is longer than 64 bits");
  }
}

/**
 * Calls `onField` for each field of the message in m[start, end): numbers (wire type 0) as their value, bytes
 * (wire type 2) as their range; fixed-width fields are skipped, as no message read here has any it needs.
 */
export function forEachField(m: Buffer, start: number, end: number, what: string, onField: (field: number, value: bigint | { from: number; to: number }) => void): void {
  let i = start;
  while (i < end) {
    let key: bigint;
    [key, i] = readVarint(m, i, end);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      let value: bigint;
      [value, i] = readVarint(m, i, end);
      onField(field, value);
    } else if (wire === 2) {
      let length: bigint;
      [length, i] = readVarint(m, i, end);
      const to = i + Number(length);
      if (to > end) throw new EtcdWireError(`${what}: field ${field} runs past the message's end`);
      onField(field, { from: i, to });
      i = to;
    } else if (wire === 1 || wire === 5) {
      i += wire === 1 ? 8 : 4;
      if (i > end) throw new EtcdWireError(`${what}: field ${field} runs past the message's end`);
    } else {
      throw new EtcdWireError(`${what}: field ${field} has wire type ${wire}, which etcd's messages do not use`);
    }
  }
}

/** ResponseHeader: cluster_id = 1, member_id = 2, revision = 3 (int64), raft_term = 4. */
export function decodeResponseHeader(m: Buffer, start: number, end: number): EtcdHeader {
  const header: EtcdHeader = { cluster_id: "0", member_id: "0", revision: "0" };
  forEachField(m, start, end, "the response header", (field, value) => {
    if (typeof value !== "bigint") throw new EtcdWireError(`the response header's field ${field} has wire type 2; all of its fields are numbers`);
    if (field === 1) header.cluster_id = value.toString();
    else if (field === 2) header.member_id = value.toString();
    else if (field === 3) header.revision = BigInt.asIntN(64, value).toString();
  });
  return header;
}

/** StatusResponse: header = 1, version = 2, dbSize = 3 (int64), leader = 4, errors = 8 (repeated string). */
export function decodeStatusResponse(m: Buffer): EtcdStatus {
  const status: EtcdStatus = { header: { cluster_id: "0", member_id: "0", revision: "0" }, version: "", dbSize: "0", leader: "0", errors: [] };
  const text = (v: bigint | { from: number; to: number }, field: number) => {
    if (typeof v === "bigint") throw new EtcdWireError(`StatusResponse: field ${field} is a number where etcd sends text`);
    return m.toString("utf8", v.from, v.to);
  };
  forEachField(m, 0, m.length, "StatusResponse", (field, value) => {
    if (field === 1) {
      if (typeof value === "bigint") throw new EtcdWireError("StatusResponse: the header is a number");
      status.header = decodeResponseHeader(m, value.from, value.to);
    } else if (field === 2) status.version = text(value, field);
    else if (field === 3 && typeof value === "bigint") status.dbSize = BigInt.asIntN(64, value).toString();
    else if (field === 4 && typeof value === "bigint") status.leader = value.toString();
    else if (field === 8) status.errors.push(text(value, field));
  });
  return status;
}
