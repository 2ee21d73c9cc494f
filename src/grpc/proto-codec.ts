// Protobuf encoding and decoding of the plugin's messages, driven by the descriptor compiled from proto/
// (src/generated/proto-descriptor.ts). Decoded messages look as @grpc/proto-loader gave them with keepCase,
// longs: String, enums: String, bytes: Buffer and defaults: every field present, 64-bit numbers as decimal
// strings, enums by name, bytes as Buffers (views of the request, not copies), absent messages as null.
// Encoding writes proto3 as Go does: fields at their zero value are left out.
// Why not protobufjs: building its reflection and codecs from the descriptor was half of the plugin's start-up
// (about 40 ms of the 110 ms Velero waits for the handshake), for a dozen flat messages.

/** The descriptor's shape, as protobufjs's toJSON writes it. */
interface DescriptorNode {
  nested?: Record<string, DescriptorNode>;
  fields?: Record<string, { type: string; id: number; rule?: string }>;
  values?: Record<string, number>;
  methods?: Record<string, { requestType: string; responseType: string; requestStream?: boolean; responseStream?: boolean }>;
}

export class ProtoCodecError extends Error {
  override readonly name = "ProtoCodecError";
}

type Scalar = "string" | "bytes" | "bool" | "int32" | "int64" | "uint32" | "uint64";
const SCALARS = new Set<string>(["string", "bytes", "bool", "int32", "int64", "uint32", "uint64"]);

interface Field {
  name: string;
  id: number;
  repeated: boolean;
  kind: "scalar" | "enum" | "message";
  scalar?: Scalar;
  enumValues?: { byName: Map<string, number>; byNumber: Map<number, string> };
  message?: () => MessageCodec;
}

const LENGTH_DELIMITED = 2;
const VARINT = 0;

export class MessageCodec {
  readonly fields: Field[] = [];
  private byId = new Map<number, Field>();

  constructor(readonly fullName: string) {}

  add(field: Field): void {
    this.fields.push(field);
    this.fields.sort((a, b) => a.id - b.id);
    this.byId.set(field.id, field);
  }

  decode(bytes: Buffer): Record<string, unknown> {
    return this.decodeRange(bytes, 0, bytes.length);
  }

  /** The message, with `prefix` bytes left free before it (for the 5-byte gRPC frame header). */
  encode(value: Record<string, unknown>, prefix = 0): Buffer {
    const out = Buffer.allocUnsafe(prefix + this.size(value));
    const end = this.write(value, out, prefix);
    if (end !== out.length) throw new ProtoCodecError(`${this.fullName}: encoded ${end - prefix} bytes, sized ${out.length - prefix}`);
    return out;
  }

  private decodeRange(buf: Buffer, start: number, end: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const f of this.fields) out[f.name] = f.repeated ? [] : zeroOf(f);
    const at = { pos: start };
    while (at.pos < end) {
      const tag = readSmall(buf, at, end);
      const id = Math.floor(tag / 8);
      const wire = tag % 8;
      const f = this.byId.get(id);
      if (!f || !wireMatches(f, wire)) {
        skip(buf, at, end, wire, this.fullName);
        continue;
      }
      let value: unknown;
      if (wire === LENGTH_DELIMITED) {
        const length = readSmall(buf, at, end);
        if (at.pos + length > end) throw new ProtoCodecError(`${this.fullName}.${f.name}: runs past the end of the message`);
        const from = at.pos;
        at.pos += length;
        if (f.kind === "message") value = f.message!().decodeRange(buf, from, from + length);
        else if (f.scalar === "string") value = buf.toString("utf8", from, from + length);
        else value = buf.subarray(from, from + length);
      } else {
        value = fromVarint(f, readVarint(buf, at, end));
      }
      if (f.repeated) (out[f.name] as unknown[]).push(value);
      else out[f.name] = value;
    }
    if (at.pos !== end) throw new ProtoCodecError(`${this.fullName}: the last field runs past the end of the message`);
    return out;
  }

  private size(value: Record<string, unknown>): number {
    let n = 0;
    for (const f of this.fields) {
      for (const v of present(f, value[f.name])) {
        n += varintSize(f.id * 8);
        if (f.kind === "message") {
          const inner = f.message!().size(v as Record<string, unknown>);
          n += varintSize(inner) + inner;
        } else if (f.scalar === "string") {
          const len = Buffer.byteLength(v as string);
          n += varintSize(len) + len;
        } else if (f.scalar === "bytes") {
          const len = (v as Uint8Array).length;
          n += varintSize(len) + len;
        } else n += varintSize(toVarint(f, v));
      }
    }
    return n;
  }

  private write(value: Record<string, unknown>, out: Buffer, pos: number): number {
    for (const f of this.fields) {
      for (const v of present(f, value[f.name])) {
        const wire = f.kind === "message" || f.scalar === "string" || f.scalar === "bytes" ? LENGTH_DELIMITED : VARINT;
        pos = writeVarint(out, pos, f.id * 8 + wire);
        if (f.kind === "message") {
          const codec = f.message!();
          pos = writeVarint(out, pos, codec.size(v as Record<string, unknown>));
          pos = codec.write(v as Record<string, unknown>, out, pos);
        } else if (f.scalar === "string") {
          const len = Buffer.byteLength(v as string);
          pos = writeVarint(out, pos, len);
          pos += out.write(v as string, pos, "utf8");
        } else if (f.scalar === "bytes") {
          const bytes = v as Uint8Array;
          pos = writeVarint(out, pos, bytes.length);
          out.set(bytes, pos);
          pos += bytes.length;
        } else pos = writeVarint(out, pos, toVarint(f, v));
      }
    }
    return pos;
  }
}

function zeroOf(f: Field): unknown {
  if (f.kind === "message") return null;
  if (f.kind === "enum") return f.enumValues!.byNumber.get(0) ?? 0;
  switch (f.scalar) {
    case "string":
      return "";
    case "bytes":
      return Buffer.alloc(0);
    case "bool":
      return false;
    case "int64":
    case "uint64":
      return "0";
    default:
      return 0;
  }
}

/** The values to write for a field: none for an absent one or (singular) one at its zero value. */
function present(f: Field, v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  if (f.repeated) {
    if (!Array.isArray(v)) throw new ProtoCodecError(`${f.name}: a repeated field needs an array`);
    return v;
  }
  if (f.kind === "message") return [v];
  if (v === "" || v === false || v === 0 || v === "0" || (v instanceof Uint8Array && v.length === 0)) return [];
  if (f.kind === "enum" && (f.enumValues!.byName.get(v as string) ?? v) === 0) return [];
  return [v];
}

function wireMatches(f: Field, wire: number): boolean {
  return f.kind === "message" || f.scalar === "string" || f.scalar === "bytes" ? wire === LENGTH_DELIMITED : wire === VARINT;
}

function fromVarint(f: Field, v: bigint): unknown {
  if (f.kind === "enum") return f.enumValues!.byNumber.get(Number(BigInt.asIntN(32, v))) ?? Number(BigInt.asIntN(32, v));
  switch (f.scalar) {
    case "bool":
      return v !== 0n;
    case "int32":
      return Number(BigInt.asIntN(32, v));
    case "uint32":
      return Number(BigInt.asUintN(32, v));
    case "int64":
      return BigInt.asIntN(64, v).toString();
    default:
      return BigInt.asUintN(64, v).toString();
  }
}

function toVarint(f: Field, v: unknown): bigint {
  if (f.kind === "enum") {
    const n = typeof v === "number" ? v : f.enumValues!.byName.get(v as string);
    if (n === undefined) throw new ProtoCodecError(`${f.name}: ${String(v)} is not one of its values`);
    return BigInt.asUintN(64, BigInt(n));
  }
  if (f.scalar === "bool") return v ? 1n : 0n;
  let n: bigint;
  try {
    n = BigInt(v as string | number);
  } catch {
    throw new ProtoCodecError(`${f.name}: ${String(v)} is not an integer`);
  }
  // Negative int32 and int64 go out as ten-byte two's complement, as protobuf requires.
  return f.scalar === "uint32" ? BigInt.asUintN(32, n) : BigInt.asUintN(64, n);
}

function readVarint(buf: Buffer, at: { pos: number }, end: number): bigint {
  let result = 0n;
  for (let shift = 0n; shift < 70n; shift += 7n) {
    if (at.pos >= end) throw new ProtoCodecError("a number runs past the end of the message");
    const byte = buf[at.pos++]!;
    result |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return result;
  }
  throw new ProtoCodecError("a number longer than ten bytes");
}

function skip(buf: Buffer, at: { pos: number }, end: number, wire: number, where: string): void {
  switch (wire) {
    case 0:
      readVarint(buf, at, end);
      return;
    case 1:
      at.pos += 8;
      break;
    case 2: {
      const length = readSmall(buf, at, end); // read first: it moves at.pos
      at.pos += length;
      break;
    }
    case 5:
      at.pos += 4;
      break;
    default:
      throw new ProtoCodecError(`${where}: wire type ${wire} is not one protobuf has`);
  }
  if (at.pos > end) throw new ProtoCodecError(`${where}: a field runs past the end of the message`);
}

/** A tag or a length: a varint that fits a JavaScript number, read without BigInt (the hot path of every call). */
function readSmall(buf: Buffer, at: { pos: number }, end: number): number {
  let result = 0;
  for (let scale = 1; scale < 2 ** 49; scale *= 128) {
    if (at.pos >= end) throw new ProtoCodecError("a number runs past the end of the message");
    const byte = buf[at.pos++]!;
    result += (byte & 0x7f) * scale;
    if (byte < 0x80) return result;
  }
  throw new ProtoCodecError("a tag or length beyond 2^49");
}

function varintSize(v: bigint | number): number {
  if (typeof v === "number") {
    let n = 1;
    for (; v >= 128; n++) v = Math.floor(v / 128);
    return n;
  }
  let n = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    n++;
  }
  return n;
}

function writeVarint(out: Buffer, pos: number, v: bigint | number): number {
  if (typeof v === "number") {
    while (v >= 128) {
      out[pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    out[pos++] = v;
    return pos;
  }
  while (v >= 0x80n) {
    out[pos++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[pos++] = Number(v);
  return pos;
}

/** Every message and enum of a descriptor, by full name; type references resolved as protoc does. */
export class ProtoSchema {
  private readonly messages = new Map<string, MessageCodec>();
  private readonly enums = new Map<string, Field["enumValues"]>();
  private readonly nodes = new Map<string, DescriptorNode>();

  constructor(root: DescriptorNode) {
    this.collect(root, "");
    // Fields second: a field may name a type declared anywhere in the descriptor.
    for (const [name, node] of this.nodes) if (node.fields) this.addFields(this.messages.get(name)!, node, name);
  }

  message(fullName: string): MessageCodec {
    const codec = this.messages.get(fullName);
    if (!codec) throw new ProtoCodecError(`no message ${fullName} in the descriptor`);
    return codec;
  }

  /** A service's methods as grpc-server.ts takes them. */
  service(fullName: string): Record<string, { path: string; requestStream: boolean; responseStream: boolean; requestDeserialize(b: Buffer): unknown; responseSerialize(v: never): Buffer; responseSerializeFramed(v: never): Buffer }> {
    const node = this.nodes.get(fullName);
    if (!node?.methods) throw new ProtoCodecError(`no service ${fullName} in the descriptor`);
    const scope = fullName.slice(0, fullName.lastIndexOf("."));
    return Object.fromEntries(
      Object.entries(node.methods).map(([name, m]) => {
        const request = this.message(this.resolve(m.requestType, scope));
        const response = this.message(this.resolve(m.responseType, scope));
        return [
          name,
          {
            path: `/${fullName}/${name}`,
            requestStream: m.requestStream === true,
            responseStream: m.responseStream === true,
            requestDeserialize: (b: Buffer) => request.decode(b),
            responseSerialize: (v: never) => response.encode(v),
            responseSerializeFramed: (v: never) => response.encode(v, 5),
          },
        ];
      }),
    );
  }

  private collect(node: DescriptorNode, name: string): void {
    if (name) this.nodes.set(name, node);
    if (node.values) {
      const byName = new Map(Object.entries(node.values));
      this.enums.set(name, { byName, byNumber: new Map([...byName].map(([k, v]) => [v, k])) });
    }
    if (node.fields) this.messages.set(name, new MessageCodec(name));
    for (const [child, n] of Object.entries(node.nested ?? {})) this.collect(n, name ? `${name}.${child}` : child);
  }

  private addFields(codec: MessageCodec, node: DescriptorNode, name: string): void {
    for (const [fieldName, f] of Object.entries(node.fields ?? {})) {
      const field: Field = { name: fieldName, id: f.id, repeated: f.rule === "repeated", kind: "scalar" };
      if (SCALARS.has(f.type)) field.scalar = f.type as Scalar;
      else {
        const target = this.resolve(f.type, name);
        if (this.enums.has(target)) {
          field.kind = "enum";
          field.enumValues = this.enums.get(target);
        } else {
          field.kind = "message";
          field.message = () => this.message(target);
        }
      }
      codec.add(field);
    }
  }

  /** `type` as written in the .proto, looked up from `scope` outwards (a leading dot: from the root). */
  private resolve(type: string, scope: string): string {
    if (type.startsWith(".")) return type.slice(1);
    for (let s = scope; ; s = s.slice(0, Math.max(0, s.lastIndexOf(".")))) {
      const candidate = s ? `${s}.${type}` : type;
      if (this.nodes.has(candidate) || this.enums.has(candidate)) return candidate;
      if (!s) break;
    }
    throw new ProtoCodecError(`type ${type} (from ${scope}) is not in the descriptor`);
  }
}
