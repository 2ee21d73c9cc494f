// Kubernetes API protobuf -> the JSON the apiserver serves for the same object. The wire format says which fields are
// present; the generated table (from k8s.io/api's .proto files and Go struct tags) says each field's JSON name and how
// Go's encoding/json omits it. Types with their own JSON form (Time, MicroTime, Duration, IntOrString, Quantity,
// RawExtension, FieldsV1, apiextensions' JSON and JSONSchemaProps* unions) are mapped by a table of converters.
import { INLINE, MAP, OMITEMPTY, OMITZERO, POINTER, REPEATED, type KubeDescriptor, type MessageInfo } from "./descriptor.js";

export class ProtoDecodeError extends Error {
  override readonly name = "ProtoDecodeError";
  constructor(
    message: string,
    /** JSON path of the field being decoded, e.g. "spec.template.spec.containers". */
    readonly path: string,
  ) {
    super(path ? `${path}: ${message}` : message);
  }
}

type Raw = number | bigint | Uint8Array;
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

// ---- wire ----------------------------------------------------------------------------------------------------------

class Wire {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly path: string,
  ) {}

  varint(): number | bigint {
    let result = 0;
    let shift = 0;
    const buf = this.buf;
    while (this.pos < buf.length) {
      const b = buf[this.pos++]!;
      if (shift < 49) {
        result += (b & 0x7f) * 2 ** shift;
        if ((b & 0x80) === 0) return result;
        shift += 7;
        continue;
      }
      // Beyond 2^49 (negative int64s are ten bytes): finish in BigInt.
      let big = BigInt(result) + (BigInt(b & 0x7f) << BigInt(shift));
      shift += 7;
      let last = b;
      while ((last & 0x80) !== 0) {
        if (this.pos >= buf.length || shift > 63) throw new ProtoDecodeError("malformed varint", this.path);
        last = buf[this.pos++]!;
        big += BigInt(last & 0x7f) << BigInt(shift);
        shift += 7;
      }
      return big & 0xffffffffffffffffn;
    }
    throw new ProtoDecodeError("truncated varint", this.path);
  }

  bytes(): Uint8Array {
    const len = Number(this.varint());
    if (this.pos + len > this.buf.length) throw new ProtoDecodeError(`field of ${len} bytes runs past the end of its message`, this.path);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  fixed(n: 4 | 8): bigint {
    if (this.pos + n > this.buf.length) throw new ProtoDecodeError("truncated fixed-width field", this.path);
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, n);
    this.pos += n;
    return n === 4 ? BigInt(view.getUint32(0, true)) : view.getBigUint64(0, true);
  }
}

/** Every field on the wire, grouped by number in arrival order (repeated fields keep their order). */
function readFields(bytes: Uint8Array, path: string): Map<number, Raw[]> {
  const wire = new Wire(bytes, path);
  const fields = new Map<number, Raw[]>();
  while (wire.pos < bytes.length) {
    const tag = Number(wire.varint());
    const number = Math.floor(tag / 8);
    let value: Raw;
    switch (tag & 7) {
      case 0:
        value = wire.varint();
        break;
      case 1:
        value = wire.fixed(8);
        break;
      case 2:
        value = wire.bytes();
        break;
      case 5:
        value = wire.fixed(4);
        break;
      default:
        throw new ProtoDecodeError(`unsupported wire type ${tag & 7} for field ${number}`, path);
    }
    const list = fields.get(number);
    if (list) list.push(value);
    else fields.set(number, [value]);
  }
  return fields;
}

// ---- scalars -------------------------------------------------------------------------------------------------------

const utf8 = new TextDecoder("utf-8", { fatal: false });

function toBig(raw: Raw): bigint {
  return typeof raw === "bigint" ? raw : BigInt(raw as number);
}

/** An integer as a JSON number; one that a double cannot hold exactly is an error, never a silently different value. */
function exactNumber(value: bigint, path: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new ProtoDecodeError(`integer ${value} is beyond 2^53 and cannot be written exactly`, path);
  return n;
}

function scalar(type: string, raw: Raw, path: string): Json {
  switch (type) {
    case "string":
      return utf8.decode(raw as Uint8Array);
    case "bytes":
      return Buffer.from(raw as Uint8Array).toString("base64");
    case "bool":
      return toBig(raw) !== 0n;
    case "int32":
      return Number(BigInt.asIntN(32, toBig(raw)));
    case "uint32":
      return Number(BigInt.asUintN(32, toBig(raw)));
    case "int64":
      return exactNumber(BigInt.asIntN(64, toBig(raw)), path);
    case "uint64":
      return exactNumber(BigInt.asUintN(64, toBig(raw)), path);
    case "sint32":
    case "sint64": {
      const v = toBig(raw);
      return exactNumber((v >> 1n) ^ -(v & 1n), path);
    }
    case "double": {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(toBig(raw));
      return b.readDoubleLE(0);
    }
    case "float": {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(Number(toBig(raw)));
      return b.readFloatLE(0);
    }
    default:
      throw new ProtoDecodeError(`unsupported scalar type ${type}`, path);
  }
}

function zeroScalar(type: string): Json {
  if (type === "string") return "";
  if (type === "bool") return false;
  if (type === "bytes") return null;
  return 0;
}

function isZero(value: Json): boolean {
  if (value === null || value === "" || value === 0 || value === false) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === "object") return Object.values(value).every(isZero);
  return false;
}

// ---- types with their own JSON form --------------------------------------------------------------------------------

const META = "k8s.io.apimachinery.pkg.apis.meta.v1";
const APIEXT = ["k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1", "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1beta1"];

type Converter = (fields: Map<number, Raw[]>, decoder: ProtoJsonDecoder, path: string) => Json;

const first = (fields: Map<number, Raw[]>, n: number): Raw | undefined => fields.get(n)?.[0];
const intField = (fields: Map<number, Raw[]>, n: number): bigint => BigInt.asIntN(64, toBig(first(fields, n) ?? 0));

/** metav1.Time: RFC 3339 in UTC, whole seconds; the zero time is null. */
function rfc3339(fields: Map<number, Raw[]>, fraction: boolean, path: string): Json {
  const seconds = intField(fields, 1);
  const nanos = Number(intField(fields, 2));
  if (seconds === 0n && nanos === 0) return null;
  const ms = Number(seconds) * 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) throw new ProtoDecodeError(`time ${seconds}s is out of range`, path);
  const iso = new Date(ms).toISOString().slice(0, 19);
  return fraction ? `${iso}.${String(Math.floor(nanos / 1000)).padStart(6, "0")}Z` : `${iso}Z`;
}

/** Go's time.Duration.String(): "1h2m3.5s", "1.5ms", "0s". */
export function goDuration(nanos: bigint): string {
  if (nanos === 0n) return "0s";
  const neg = nanos < 0n;
  let n = neg ? -nanos : nanos;
  const sign = neg ? "-" : "";
  const frac = (value: bigint, unit: bigint): string => {
    const whole = value / unit;
    let rest = (value % unit).toString().padStart(unit.toString().length - 1, "0").replace(/0+$/, "");
    return rest ? `${whole}.${rest}` : `${whole}`;
  };
  if (n < 1000n) return `${sign}${n}ns`;
  if (n < 1000000n) return `${sign}${frac(n, 1000n)}µs`;
  if (n < 1000000000n) return `${sign}${frac(n, 1000000n)}ms`;
  let out = "";
  const h = n / 3600000000000n;
  n %= 3600000000000n;
  const m = n / 60000000000n;
  n %= 60000000000n;
  if (h > 0n) out += `${h}h`;
  if (h > 0n || m > 0n) out += `${m}m`;
  return `${sign}${out}${frac(n, 1000000000n)}s`;
}

/** Embedded JSON (RawExtension, FieldsV1, apiextensions JSON); empty is null. */
function embeddedJson(fields: Map<number, Raw[]>, path: string): Json {
  const raw = first(fields, 1) as Uint8Array | undefined;
  if (!raw || raw.length === 0) return null;
  try {
    return JSON.parse(utf8.decode(raw)) as Json;
  } catch {
    throw new ProtoDecodeError("embedded value is not JSON", path);
  }
}

const CONVERTERS: Record<string, Converter> = {
  [`${META}.Time`]: (f, _d, p) => rfc3339(f, false, p),
  [`${META}.MicroTime`]: (f, _d, p) => rfc3339(f, true, p),
  [`${META}.Duration`]: (f) => goDuration(intField(f, 1)),
  [`${META}.FieldsV1`]: (f, _d, p) => embeddedJson(f, p),
  "k8s.io.apimachinery.pkg.runtime.RawExtension": (f, _d, p) => embeddedJson(f, p),
  // IntOrString: type 0 is an int, 1 a string.
  "k8s.io.apimachinery.pkg.util.intstr.IntOrString": (f) =>
    intField(f, 1) === 1n ? utf8.decode((first(f, 3) as Uint8Array | undefined) ?? new Uint8Array()) : Number(BigInt.asIntN(32, intField(f, 2))),
  // Quantity travels as its canonical string.
  "k8s.io.apimachinery.pkg.api.resource.Quantity": (f) => {
    const s = first(f, 1) as Uint8Array | undefined;
    return s && s.length > 0 ? utf8.decode(s) : "0";
  },
};
for (const pkg of APIEXT) {
  CONVERTERS[`${pkg}.JSON`] = (f, _d, p) => embeddedJson(f, p);
  // The unions marshal as whichever side is set (apiextensions' marshal.go).
  CONVERTERS[`${pkg}.JSONSchemaPropsOrArray`] = (f, d, p) =>
    f.has(1) ? d.message(`${pkg}.JSONSchemaProps`, f.get(1)![0] as Uint8Array, p) : (f.get(2) ?? []).map((b, i) => d.message(`${pkg}.JSONSchemaProps`, b as Uint8Array, `${p}[${i}]`));
  CONVERTERS[`${pkg}.JSONSchemaPropsOrBool`] = (f, d, p) => (f.has(2) ? d.message(`${pkg}.JSONSchemaProps`, f.get(2)![0] as Uint8Array, p) : intField(f, 1) !== 0n);
  CONVERTERS[`${pkg}.JSONSchemaPropsOrStringArray`] = (f, d, p) => {
    const property = f.get(2) ?? [];
    if (property.length > 0) return property.map((b) => utf8.decode(b as Uint8Array));
    return f.has(1) ? d.message(`${pkg}.JSONSchemaProps`, f.get(1)![0] as Uint8Array, p) : null;
  };
}

/** runtime.Unknown, the envelope of every protobuf value in etcd: {typeMeta {apiVersion, kind}, raw, contentEncoding}. */
export function readUnknown(bytes: Uint8Array): { apiVersion: string; kind: string; raw: Uint8Array; contentEncoding: string } {
  const fields = readFields(bytes, "");
  const typeMeta = readFields((first(fields, 1) as Uint8Array | undefined) ?? new Uint8Array(), "typeMeta");
  const str = (f: Map<number, Raw[]>, n: number) => utf8.decode((first(f, n) as Uint8Array | undefined) ?? new Uint8Array());
  return { apiVersion: str(typeMeta, 1), kind: str(typeMeta, 2), raw: (first(fields, 2) as Uint8Array | undefined) ?? new Uint8Array(), contentEncoding: str(fields, 3) };
}

// ---- messages ------------------------------------------------------------------------------------------------------

export class ProtoJsonDecoder {
  constructor(private readonly descriptor: KubeDescriptor) {}

  /** The protobuf message name for an apiVersion and kind, or undefined when the table does not know the group. */
  messageFor(apiVersion: string, kind: string): string | undefined {
    const pkg = this.descriptor.groups[apiVersion];
    const name = pkg ? `${pkg}.${kind}` : undefined;
    return name && this.descriptor.messages[name] ? name : undefined;
  }

  message(name: string, bytes: Uint8Array, path = ""): Json {
    const fields = readFields(bytes, path);
    const convert = CONVERTERS[name];
    if (convert) return convert(fields, this, path);
    const info: MessageInfo | undefined = this.descriptor.messages[name];
    if (!info) throw new ProtoDecodeError(`unknown message type ${name}`, path);
    if (info.list) {
      const [, [, type]] = Object.entries(info.fields)[0]!;
      return (fields.get(1) ?? []).map((raw, i) => this.value(type, raw, `${path}[${i}]`));
    }
    const out: { [key: string]: Json } = {};
    for (const number of info.order ?? Object.keys(info.fields)) {
      const [json, type, flags, keyType] = info.fields[String(number)]!;
      const raws = fields.get(Number(number));
      const at = path ? `${path}.${json}` : json;
      if (flags & INLINE) {
        // Go's encoding/json flattens an embedded struct into its parent (Volume's VolumeSource, Probe's handler).
        const inner = this.message(type, (raws?.[raws.length - 1] as Uint8Array | undefined) ?? new Uint8Array(), path);
        if (inner && typeof inner === "object" && !Array.isArray(inner)) Object.assign(out, inner);
      } else if (flags & MAP) {
        const map: { [key: string]: Json } = {};
        for (const entry of raws ?? []) {
          const kv = readFields(entry as Uint8Array, at);
          const k = kv.get(1)?.[0];
          const key = k === undefined ? String(zeroScalar(keyType ?? "string")) : String(scalar(keyType ?? "string", k, at));
          const v = kv.get(2)?.[0];
          map[key] = v === undefined ? this.zero(type, at) : this.value(type, v, `${at}[${JSON.stringify(key)}]`);
        }
        if (Object.keys(map).length > 0) out[json] = map;
        else if (!(flags & OMITEMPTY)) out[json] = null;
      } else if (flags & REPEATED) {
        const list = raws ? this.repeated(type, raws, at) : [];
        if (list.length > 0) out[json] = list;
        else if (!(flags & OMITEMPTY)) out[json] = null;
      } else if (raws === undefined) {
        if (flags & POINTER) {
          if (!(flags & OMITEMPTY)) out[json] = null;
          continue;
        }
        const zero = this.zero(type, at);
        if (((flags & OMITEMPTY) && !this.isMessage(type)) || (flags & OMITZERO)) {
          if (isZero(zero)) continue;
        }
        if ((flags & OMITEMPTY) && type === "bytes") continue;
        out[json] = zero;
      } else {
        const value = this.value(type, raws[raws.length - 1]!, at);
        if (!(flags & POINTER)) {
          if ((flags & OMITEMPTY) && !this.isMessage(type) && (isZero(value) || (type === "bytes" && value === ""))) continue;
          if ((flags & OMITZERO) && isZero(value)) continue;
        }
        out[json] = value;
      }
    }
    return out;
  }

  private isMessage(type: string): boolean {
    return type in this.descriptor.messages || type in CONVERTERS;
  }

  private value(type: string, raw: Raw, path: string): Json {
    if (this.isMessage(type)) {
      if (!(raw instanceof Uint8Array)) throw new ProtoDecodeError(`expected an embedded ${type}, found a number`, path);
      return this.message(type, raw, path);
    }
    return scalar(type, raw, path);
  }

  private repeated(type: string, raws: Raw[], path: string): Json[] {
    const out: Json[] = [];
    for (const raw of raws) {
      // Packed scalars (one length-delimited run of varints) are accepted as well as one field per element.
      if (raw instanceof Uint8Array && !this.isMessage(type) && type !== "string" && type !== "bytes") {
        const wire = new Wire(raw, path);
        while (wire.pos < raw.length) out.push(scalar(type, type === "double" ? wire.fixed(8) : type === "float" ? wire.fixed(4) : wire.varint(), path));
      } else out.push(this.value(type, raw, `${path}[${out.length}]`));
    }
    return out;
  }

  private zero(type: string, path: string): Json {
    return this.isMessage(type) ? this.message(type, new Uint8Array(), path) : zeroScalar(type);
  }
}
