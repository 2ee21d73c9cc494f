// The plugin's protobuf codec against protobufjs, both reading the same descriptor: every message of go-plugin,
// grpc health and Velero, both ways, with values at the edges (negative and 64-bit numbers, empty and large bytes,
// unknown enum numbers, fields the codec does not know).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import protobuf from "protobufjs";
import { protoDescriptor } from "../../src/generated/proto-descriptor.js";
import { ProtoCodecError, ProtoSchema } from "../../src/grpc/proto-codec.js";

const reference = protobuf.Root.fromJSON(protoDescriptor as protobuf.INamespace);
const schema = new ProtoSchema(protoDescriptor);
const asLoaderGives = { longs: String, enums: String, bytes: Buffer, defaults: true, oneofs: true } as const;

/** Every message type of the descriptor, by full name. */
function allTypes(ns: protobuf.NamespaceBase = reference): protobuf.Type[] {
  return ns.nestedArray.flatMap((n) => [...(n instanceof protobuf.Type ? [n] : []), ...(n instanceof protobuf.Namespace || n instanceof protobuf.Type ? allTypes(n) : [])]);
}

/** A value for every field, chosen by `pick` among edge values of its type. */
function sample(type: protobuf.Type, pick: number, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of type.fieldsArray) {
    f.resolve();
    const one = (i: number): unknown => {
      if (f.resolvedType instanceof protobuf.Type) return depth > 3 ? {} : sample(f.resolvedType, pick + i, depth + 1);
      if (f.resolvedType instanceof protobuf.Enum) return Object.keys(f.resolvedType.values)[(pick + i) % Object.keys(f.resolvedType.values).length];
      const k = (pick + i) % 4;
      switch (f.type) {
        case "string":
          return ["", "twinsnap.dev/strip-runtime-fields", "ümlaut ✓ 𝑊", "x".repeat(300)][k];
        case "bytes":
          return [Buffer.alloc(0), Buffer.from('{"kind":"Pod"}'), randomBytes(200_000), Buffer.from([0])][k];
        case "bool":
          return k % 2 === 1;
        case "int32":
          return [0, -1, 2147483647, -2147483648][k];
        case "uint32":
          return [0, 1, 4294967295, 128][k];
        case "int64":
          return ["0", "-1", "9223372036854775807", "-9223372036854775808"][k];
        case "uint64":
          return ["0", "1", "18446744073709551615", "9007199254740993"][k];
        default:
          throw new Error(`no sample for ${f.type}`);
      }
    };
    out[f.name] = f.repeated ? [one(0), one(1), one(2)] : one(0);
  }
  return out;
}

describe("the plugin's protobuf codec", () => {
  const types = allTypes().filter((t) => !t.fullName.startsWith(".etcdserverpb"));

  it("covers every message of the plugin's services", () => {
    assert.ok(types.length > 40, `${types.length} message types`);
  });

  for (const pick of [0, 1, 2, 3]) {
    it(`reads what protobufjs writes, and protobufjs reads what it writes (values set ${pick})`, () => {
      for (const type of types) {
        const name = type.fullName.slice(1);
        const codec = schema.message(name);
        const value = sample(type, pick);
        const theirs = Buffer.from(type.encode(type.fromObject(value)).finish());
        const expected = type.toObject(type.decode(theirs), asLoaderGives);
        assert.deepEqual(codec.decode(theirs), expected, `${name}: decoding protobufjs's bytes`);
        const ours = codec.encode(value);
        assert.deepEqual(type.toObject(type.decode(ours), asLoaderGives), expected, `${name}: protobufjs decoding ours`);
        assert.deepEqual(codec.encode(value, 5).subarray(5), ours, `${name}: the framed form is the same bytes after the header`);
      }
    });
  }

  it("leaves out fields at their zero value, as Go does, and reads an absent field as its zero", () => {
    const codec = schema.message("v2.ExecuteResponse");
    assert.equal(codec.encode({ item: Buffer.alloc(0), additionalItems: [], operationID: "", postOperationItems: [] }).length, 0);
    assert.deepEqual(codec.decode(Buffer.alloc(0)), { item: Buffer.alloc(0), additionalItems: [], operationID: "", postOperationItems: [] });
    assert.deepEqual(schema.message("generated.OperationProgress").decode(Buffer.alloc(0)).started, null);
  });

  it("decoded bytes are views of the request, not copies", () => {
    const bytes = schema.message("v2.ExecuteRequest").encode({ plugin: "p", item: Buffer.from("item"), backup: Buffer.from("b") });
    const decoded = schema.message("v2.ExecuteRequest").decode(bytes);
    assert.equal((decoded.item as Buffer).buffer, bytes.buffer);
  });

  it("skips fields it does not know (a newer Velero), and keeps an enum number it has no name for", () => {
    const known = schema.message("generated.PluginIdentifier").encode({ command: "/plugins/twinsnap", kind: "BackupItemAction", name: "n" });
    const unknown = Buffer.from([0x20, 0x96, 0x01, 0x2a, 0x02, 0x68, 0x69, 0x35, 1, 2, 3, 4, 0x39, 1, 2, 3, 4, 5, 6, 7, 8]); // 4: varint, 5: bytes, 6: fixed32, 7: fixed64
    assert.deepEqual(schema.message("generated.PluginIdentifier").decode(Buffer.concat([unknown, known])), { command: "/plugins/twinsnap", kind: "BackupItemAction", name: "n" });
    assert.equal(schema.message("grpc.health.v1.HealthCheckResponse").decode(Buffer.from([0x08, 0x07])).status, 7);
  });

  it("refuses bytes that are not a message: cut short, a length past the end, a ten-byte-plus number, wire types 3 and 4", () => {
    const codec = schema.message("v2.ExecuteRequest");
    const good = codec.encode({ plugin: "p", item: Buffer.from("item"), backup: Buffer.from("b") });
    for (const bad of [good.subarray(0, good.length - 1), Buffer.from([0x12, 0x05, 0x61]), Buffer.from([0x08, ...Array(11).fill(0xff)]), Buffer.from([0x0b]), Buffer.from([0x0c])]) {
      assert.throws(() => codec.decode(bad), ProtoCodecError, bad.toString("hex"));
    }
  });

  it("refuses to encode what the schema cannot hold", () => {
    assert.throws(() => schema.message("grpc.health.v1.HealthCheckResponse").encode({ status: "ASLEEP" }), /ASLEEP is not one of its values/);
    assert.throws(() => schema.message("generated.OperationProgress").encode({ nCompleted: "many" }), /many is not an integer/);
  });
});
