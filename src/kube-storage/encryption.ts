// Values the apiserver encrypted at rest (EncryptionConfiguration). Formats, as k8s.io/apiserver v0.36 writes them:
//   k8s:enc:aescbc:v1:<key name>:<16-byte IV><AES-CBC ciphertext, PKCS#7 padded>
//   k8s:enc:aesgcm:v1:<key name>:<12-byte nonce><AES-GCM ciphertext><16-byte tag>, authenticated data = the etcd key
//   k8s:enc:secretbox:v1:<key name>:<24-byte nonce><XSalsa20-Poly1305 box>
//   k8s:enc:kms:v1:<provider name>:... and k8s:enc:kms:v2:<provider name>:...  (keys held by a KMS plugin)
// An unencrypted (identity) value has no prefix.
import { createDecipheriv, type DecipherGCM } from "node:crypto";
import yaml from "js-yaml";

const PREFIX = "k8s:enc:";

export interface EncryptedEnvelope {
  /** aescbc, aesgcm, secretbox, kms (v1 or v2), or what an unknown provider calls itself. */
  provider: string;
  version: string;
  /** The key name (local providers) or the KMS provider's name. */
  keyName: string;
  /** The bytes after the prefix. */
  payload: Uint8Array;
}

/** The envelope of an encrypted value, or undefined when the value is stored in the clear. */
export function encryptedEnvelope(value: Uint8Array): EncryptedEnvelope | undefined {
  if (value.length < PREFIX.length || Buffer.from(value.subarray(0, PREFIX.length)).toString("latin1") !== PREFIX) return undefined;
  // Three ':'-terminated fields follow: provider, version, key or provider name.
  const parts: string[] = [];
  let at = PREFIX.length;
  while (parts.length < 3) {
    const end = value.indexOf(0x3a, at);
    if (end < 0 || end - at > 256) break;
    parts.push(Buffer.from(value.subarray(at, end)).toString("utf8"));
    at = end + 1;
  }
  return { provider: parts[0] ?? "unknown", version: parts[1] ?? "", keyName: parts[2] ?? "", payload: value.subarray(at) };
}

export class EncryptionConfigError extends Error {
  override readonly name = "EncryptionConfigError";
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

export class DecryptionError extends Error {
  override readonly name = "DecryptionError";
  constructor(
    readonly etcdKey: string,
    readonly provider: string,
    readonly keyName: string,
    reason: string,
  ) {
    super(`${etcdKey}: cannot decrypt (${provider} key "${keyName}"): ${reason}`);
  }
}

/** Local keys from an EncryptionConfiguration, by provider and key name. */
export interface LocalKeys {
  aescbc: Map<string, Buffer>;
  aesgcm: Map<string, Buffer>;
  secretbox: Map<string, Buffer>;
}

/** Reads the keys of an EncryptionConfiguration (apiserver.config.k8s.io/v1) as the apiserver does; KMS entries are skipped. */
export function parseEncryptionConfig(text: string, file: string): LocalKeys {
  let doc: unknown;
  try {
    doc = yaml.load(text);
  } catch (err) {
    throw new EncryptionConfigError(file, `not YAML (${(err as Error).message.split("\n")[0]})`);
  }
  const config = doc as { kind?: unknown; resources?: unknown } | null;
  if (!config || typeof config !== "object" || config.kind !== "EncryptionConfiguration" || !Array.isArray(config.resources)) {
    throw new EncryptionConfigError(file, "not an EncryptionConfiguration (kind: EncryptionConfiguration with a resources list)");
  }
  const keys: LocalKeys = { aescbc: new Map(), aesgcm: new Map(), secretbox: new Map() };
  for (const [i, resource] of (config.resources as { providers?: unknown }[]).entries()) {
    for (const provider of Array.isArray(resource?.providers) ? (resource.providers as Record<string, { keys?: unknown }>[]) : []) {
      for (const name of ["aescbc", "aesgcm", "secretbox"] as const) {
        const entry = provider?.[name];
        if (!entry) continue;
        if (!Array.isArray(entry.keys)) throw new EncryptionConfigError(file, `resources[${i}]: ${name} has no keys list`);
        for (const key of entry.keys as { name?: unknown; secret?: unknown }[]) {
          if (typeof key?.name !== "string" || typeof key.secret !== "string") throw new EncryptionConfigError(file, `resources[${i}]: a ${name} key needs name and secret`);
          const secret = Buffer.from(key.secret, "base64");
          const sizes = name === "secretbox" ? [32] : name === "aescbc" ? [16, 24, 32] : [16, 24, 32];
          if (!sizes.includes(secret.length)) throw new EncryptionConfigError(file, `${name} key "${key.name}" is ${secret.length} bytes after base64 decoding; expected ${sizes.join(" or ")}`);
          keys[name].set(key.name, secret);
        }
      }
    }
  }
  return keys;
}

/** Decrypts with a local key. Returns undefined when no key is known for this envelope (then it stays reported as encrypted). */
export function decryptLocal(envelope: EncryptedEnvelope, keys: LocalKeys, etcdKey: string): Buffer | undefined {
  const { provider, keyName, payload } = envelope;
  if (envelope.version !== "v1") return undefined;
  const fail = (reason: string) => new DecryptionError(etcdKey, provider, keyName, reason);
  if (provider === "aescbc") {
    const key = keys.aescbc.get(keyName);
    if (!key) return undefined;
    if (payload.length < 32 || payload.length % 16 !== 0) throw fail("the stored data is not a multiple of the AES block size");
    try {
      const decipher = createDecipheriv(`aes-${key.length * 8}-cbc`, key, payload.subarray(0, 16));
      return Buffer.concat([decipher.update(payload.subarray(16)), decipher.final()]);
    } catch {
      throw fail("wrong key or damaged value (invalid padding)");
    }
  }
  if (provider === "aesgcm") {
    const key = keys.aesgcm.get(keyName);
    if (!key) return undefined;
    if (payload.length < 12 + 16) throw fail("value shorter than nonce and tag");
    try {
      const decipher = createDecipheriv(`aes-${key.length * 8}-gcm`, key, payload.subarray(0, 12)) as DecipherGCM;
      decipher.setAAD(Buffer.from(etcdKey, "utf8"));
      decipher.setAuthTag(payload.subarray(payload.length - 16));
      return Buffer.concat([decipher.update(payload.subarray(12, payload.length - 16)), decipher.final()]);
    } catch {
      throw fail("wrong key, damaged value, or a value copied from another etcd key (authentication failed)");
    }
  }
  if (provider === "secretbox") {
    const key = keys.secretbox.get(keyName);
    if (!key) return undefined;
    if (payload.length < 24 + 16) throw fail("value shorter than nonce and tag");
    const opened = secretboxOpen(payload.subarray(24), payload.subarray(0, 24), key);
    if (!opened) throw fail("wrong key or damaged value (authentication failed)");
    return opened;
  }
  return undefined;
}

// ---- NaCl secretbox (XSalsa20-Poly1305), as golang.org/x/crypto/nacl/secretbox; Node's crypto has neither primitive.

function rotl(v: number, n: number): number {
  return ((v << n) | (v >>> (32 - n))) >>> 0;
}

/** The Salsa20 double rounds over 16 words; `feedForward` adds the input (Salsa20 core) or not (HSalsa20). */
function salsaRounds(input: Uint32Array): Uint32Array {
  const x = Uint32Array.from(input);
  const qr = (a: number, b: number, c: number, d: number) => {
    x[b] = (x[b]! ^ rotl((x[a]! + x[d]!) >>> 0, 7)) >>> 0;
    x[c] = (x[c]! ^ rotl((x[b]! + x[a]!) >>> 0, 9)) >>> 0;
    x[d] = (x[d]! ^ rotl((x[c]! + x[b]!) >>> 0, 13)) >>> 0;
    x[a] = (x[a]! ^ rotl((x[d]! + x[c]!) >>> 0, 18)) >>> 0;
  };
  for (let i = 0; i < 10; i++) {
    qr(0, 4, 8, 12);
    qr(5, 9, 13, 1);
    qr(10, 14, 2, 6);
    qr(15, 3, 7, 11);
    qr(0, 1, 2, 3);
    qr(5, 6, 7, 4);
    qr(10, 11, 8, 9);
    qr(15, 12, 13, 14);
  }
  return x;
}

const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574];

function salsaState(key: Uint32Array, nonce16: Uint32Array): Uint32Array {
  return Uint32Array.from([SIGMA[0]!, key[0]!, key[1]!, key[2]!, key[3]!, SIGMA[1]!, nonce16[0]!, nonce16[1]!, nonce16[2]!, nonce16[3]!, SIGMA[2]!, key[4]!, key[5]!, key[6]!, key[7]!, SIGMA[3]!]);
}

function words(bytes: Uint8Array): Uint32Array {
  const out = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = Buffer.from(bytes.buffer, bytes.byteOffset + i * 4, 4).readUInt32LE(0);
  return out;
}

/** XSalsa20 keystream of `length` bytes. */
function xsalsa20Stream(key: Uint8Array, nonce: Uint8Array, length: number): Buffer {
  const k = words(key);
  const h = salsaRounds(salsaState(k, words(nonce.subarray(0, 16))));
  const subkey = Uint32Array.from([h[0]!, h[5]!, h[10]!, h[15]!, h[6]!, h[7]!, h[8]!, h[9]!]);
  const n2 = words(nonce.subarray(16, 24));
  const out = Buffer.alloc(Math.ceil(length / 64) * 64);
  for (let block = 0; block * 64 < length; block++) {
    const state = salsaState(subkey, Uint32Array.from([n2[0]!, n2[1]!, block >>> 0, Math.floor(block / 2 ** 32)]));
    const mixed = salsaRounds(state);
    for (let i = 0; i < 16; i++) out.writeUInt32LE((mixed[i]! + state[i]!) >>> 0, block * 64 + i * 4);
  }
  return out.subarray(0, length);
}

function poly1305(message: Uint8Array, key: Uint8Array): Buffer {
  const le = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).reverse().toString("hex") || "0"}`);
  const p = (1n << 130n) - 5n;
  const r = le(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = le(key.subarray(16, 32));
  let acc = 0n;
  for (let i = 0; i < message.length; i += 16) {
    const chunk = message.subarray(i, i + 16);
    acc = ((acc + le(chunk) + (1n << BigInt(chunk.length * 8))) * r) % p;
  }
  acc = (acc + s) & ((1n << 128n) - 1n);
  return Buffer.from(acc.toString(16).padStart(32, "0"), "hex").reverse();
}

/** secretbox.Open: box = 16-byte Poly1305 tag + ciphertext; the first 32 keystream bytes are the one-time key. */
export function secretboxOpen(box: Uint8Array, nonce: Uint8Array, key: Uint8Array): Buffer | undefined {
  if (box.length < 16) return undefined;
  const stream = xsalsa20Stream(key, nonce, 32 + box.length - 16);
  const tag = poly1305(box.subarray(16), stream.subarray(0, 32));
  if (!tag.equals(Buffer.from(box.subarray(0, 16)))) return undefined;
  const plain = Buffer.from(box.subarray(16));
  for (let i = 0; i < plain.length; i++) plain[i]! ^= stream[32 + i]!;
  return plain;
}
