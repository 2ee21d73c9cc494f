// One etcd value as the apiserver stored it -> the object the apiserver would serve. Built-in types are protobuf in a
// runtime.Unknown envelope behind the magic "k8s\0" (apimachinery's protobuf serializer); custom resources (and
// anything stored with the JSON serializer) are JSON; either may sit inside an encryption-at-rest envelope.
import { kubeDescriptor } from "../generated/kube-descriptor.js";
import { DecryptionError, decryptLocal, encryptedEnvelope, type LocalKeys } from "./encryption.js";
import { servedForm } from "./served-form.js";
import { ProtoDecodeError, ProtoJsonDecoder, readUnknown } from "./proto-json.js";

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

import type { StoredObject } from "./served-form.js";
export type { StoredObject };

export type StoredValue =
  | { state: "object"; object: StoredObject; encoding: "protobuf" | "json"; decrypted?: { provider: string; keyName: string } }
  /** Encrypted at rest, and no local key for it was given (or it is a KMS key). */
  | { state: "encrypted"; provider: string; version: string; keyName: string }
  | { state: "undecodable"; reason: string };

export interface DecodeOptions {
  keys?: LocalKeys;
}

const decoder = new ProtoJsonDecoder(kubeDescriptor);

/** The Kubernetes API versions the protobuf table was generated from (e.g. {"k8s.io/api": "v0.36.5"}). */
export const PROTO_VERSIONS = kubeDescriptor.versions;

/**
 * Decodes one stored value. `etcdKey` is the value's etcd key (aesgcm authenticates it). Never throws for what a
 * snapshot holds: a value it cannot read is reported as such.
 */
export function decodeStoredValue(etcdKey: string, value: Uint8Array, opts: DecodeOptions = {}): StoredValue {
  let bytes = value;
  let decrypted: { provider: string; keyName: string } | undefined;
  const envelope = encryptedEnvelope(bytes);
  if (envelope) {
    let plain: Buffer | undefined;
    try {
      plain = opts.keys ? decryptLocal(envelope, opts.keys, etcdKey) : undefined;
    } catch (err) {
      // A wrong key or a damaged value spoils this object only, never the listing.
      if (err instanceof DecryptionError) return { state: "undecodable", reason: err.message };
      throw err;
    }
    if (!plain) return { state: "encrypted", provider: envelope.provider, version: envelope.version, keyName: envelope.keyName };
    bytes = plain;
    decrypted = { provider: envelope.provider, keyName: envelope.keyName };
  }
  try {
    const decoded = decodePlain(bytes);
    if (decoded.state === "object" && decrypted) return { ...decoded, decrypted };
    return decoded;
  } catch (err) {
    if (err instanceof ProtoDecodeError || err instanceof SyntaxError) return { state: "undecodable", reason: err.message };
    throw err;
  }
}

function decodePlain(bytes: Uint8Array): StoredValue {
  if (bytes.length >= 4 && MAGIC.equals(Buffer.from(bytes.buffer, bytes.byteOffset, 4))) {
    const unknown = readUnknown(bytes.subarray(4));
    const { apiVersion, kind } = unknown;
    if (unknown.contentEncoding) return { state: "undecodable", reason: `content encoding "${unknown.contentEncoding}" is not supported` };
    const message = decoder.messageFor(apiVersion, kind);
    if (!message) return { state: "undecodable", reason: `no protobuf definition for ${apiVersion} ${kind} (twinsnap knows Kubernetes ${PROTO_VERSIONS["k8s.io/api"] ?? "?"})` };
    const body = decoder.message(message, unknown.raw) as Record<string, unknown>;
    return { state: "object", encoding: "protobuf", object: servedForm({ apiVersion, kind, ...body, metadata: (body.metadata as Record<string, unknown>) ?? {} }) };
  }
  const first = bytes.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
  if (first === 0x7b) {
    const object = JSON.parse(Buffer.from(bytes).toString("utf8")) as StoredObject;
    if (typeof object.apiVersion !== "string" || typeof object.kind !== "string") return { state: "undecodable", reason: "JSON without apiVersion and kind" };
    return { state: "object", encoding: "json", object: servedForm({ ...object, metadata: object.metadata ?? {} }) };
  }
  return { state: "undecodable", reason: "neither Kubernetes protobuf (k8s\\0) nor JSON" };
}
