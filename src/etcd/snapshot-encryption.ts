// Client-side encryption of etcd snapshots with age (https://age-encryption.org/v1): a snapshot holds every Secret
// of the cluster, and a store (a bucket, a hostPath) is rarely guarded as well as etcd itself. age because a person
// can decrypt it during a disaster without twinsnap (`age -d -i key.txt snap.db.gz.age | gunzip`), its X25519
// recipients are public keys (the coordinator encrypts and cannot decrypt), and it streams in 64 KiB chunks.
// A passphrase (age -p) is the alternative for people who keep no key files; identities and passphrases come from
// files or from a Kubernetes Secret of a cluster that is up.
// The stage comes after compression (ciphertext does not compress), as a stream stage of its own, so another
// compressor composes with it: etcd -> sha256 -> compress -> encrypt -> store.
import { readFile } from "node:fs/promises";
import { Duplex, Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
// age-encryption (4 MiB of heap once loaded) is loaded by the stages that use it: a snapshot without encryption
// never pays for it.
import { compressionOfKey, decompressor, type SnapshotCompression } from "./compression.js";

export class SnapshotEncryptionError extends Error {
  override readonly name = "SnapshotEncryptionError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** What a record says about how its snapshot object is encrypted. */
export interface SnapshotEncryption {
  format: "age";
  /** The public keys it was encrypted to (any one identity among them decrypts it); none with a passphrase. */
  recipients: string[];
  /** Encrypted with a passphrase (age's scrypt recipient, `age -p`) instead of public keys. */
  passphrase?: true;
}

/** Who can read what a snapshot is encrypted to: public keys, or one passphrase (age allows nothing beside it). */
export type EncryptionTarget = { recipients: readonly string[] } | { passphrase: string };

/** What decrypts a snapshot: an X25519 identity (`AGE-SECRET-KEY-1...`) or the passphrase it was encrypted with. */
export type AgeIdentity = string | { passphrase: string };

/**
 * Reads a Kubernetes Secret's data (decoded), or undefined when there is none: how `secret:` sources reach a
 * cluster without this layer knowing about clients.
 */
export type SecretReader = (namespace: string, name: string) => Promise<Record<string, Buffer> | undefined>;

const RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;
const IDENTITY = /^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$/;

/** Checks recipients (`age1...`); a typo must fail before a snapshot, not make one nobody can read. */
export function parseRecipients(values: readonly string[], source: string): string[] {
  const out: string[] = [];
  for (const raw of values) {
    const value = raw.trim();
    if (value === "" || value.startsWith("#")) continue;
    if (!RECIPIENT.test(value)) throw new SnapshotEncryptionError(`${source}: "${value.slice(0, 80)}" is not an age X25519 recipient (age1... , as age-keygen prints it)`);
    out.push(value);
  }
  return out;
}

/** Recipients from flags and recipients files (age's `-R` format: one per line, # comments). */
export async function loadRecipients(flags: readonly string[], files: readonly string[]): Promise<string[]> {
  const all = parseRecipients(flags, "--encrypt-to");
  for (const file of files) {
    const text = await readFile(file, "utf8").catch((err: Error) => {
      throw new SnapshotEncryptionError(`recipients file ${file} cannot be read: ${err.message}`, { cause: err });
    });
    all.push(...parseRecipients(text.split("\n"), file));
  }
  return [...new Set(all)];
}

/** The identities in a text as age-keygen writes it (comments and public-key lines allowed). */
export function parseIdentities(text: string, source: string): string[] {
  const keys = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  for (const key of keys) {
    if (!IDENTITY.test(key)) throw new SnapshotEncryptionError(`${source}: a line is not an age identity (AGE-SECRET-KEY-1..., as age-keygen writes it)`);
  }
  if (keys.length === 0) throw new SnapshotEncryptionError(`${source} holds no age identity`);
  return keys;
}

/** `secret:NAMESPACE/NAME` or `secret:NAMESPACE/NAME/KEY`, checked before the cluster is asked. */
interface SecretSource {
  namespace: string;
  name: string;
  key?: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]{1,253}$/;

function secretSource(value: string): SecretSource | undefined {
  if (!value.startsWith("secret:")) return undefined;
  const parts = value.slice("secret:".length).split("/");
  const [namespace, name, key] = parts;
  if (parts.length < 2 || parts.length > 3 || !DNS_LABEL.test(namespace!) || !DNS_SUBDOMAIN.test(name!) || (key !== undefined && !SECRET_KEY.test(key))) {
    throw new SnapshotEncryptionError(`"${value.slice(0, 120)}" is not a Secret reference: write secret:NAMESPACE/NAME or secret:NAMESPACE/NAME/KEY`);
  }
  return { namespace: namespace!, name: name!, ...(key !== undefined ? { key } : {}) };
}

async function readSecretSource(ref: SecretSource, what: string, readSecret: SecretReader | undefined): Promise<Record<string, Buffer>> {
  const label = `Secret ${ref.namespace}/${ref.name}`;
  if (!readSecret) throw new SnapshotEncryptionError(`${what} from the ${label} needs a cluster to read it from (--kubeconfig, --context)`);
  let data: Record<string, Buffer> | undefined;
  try {
    data = await readSecret(ref.namespace, ref.name);
  } catch (err) {
    throw new SnapshotEncryptionError(`${what}: the ${label} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  if (!data) throw new SnapshotEncryptionError(`${what}: there is no ${label} in the cluster`);
  if (ref.key === undefined) return data;
  const value = data[ref.key];
  if (value === undefined) throw new SnapshotEncryptionError(`${what}: the ${label} has no key "${ref.key}" (it has: ${Object.keys(data).sort().join(", ") || "none"})`);
  return { [ref.key]: value };
}

/**
 * Identities from files as age-keygen writes them, or from Secrets: `secret:NAMESPACE/NAME/KEY`, or
 * `secret:NAMESPACE/NAME` for every key of it that holds identities (`age-keygen | kubectl create secret generic
 * --from-file=key.txt=/dev/stdin`).
 */
export async function loadIdentities(sources: readonly string[], readSecret?: SecretReader): Promise<string[]> {
  const out: string[] = [];
  for (const source of sources) {
    const ref = secretSource(source);
    if (!ref) {
      const text = await readFile(source, "utf8").catch((err: Error) => {
        throw new SnapshotEncryptionError(`identity file ${source} cannot be read: ${err.message}`, { cause: err });
      });
      out.push(...parseIdentities(text, `identity file ${source}`));
      continue;
    }
    const data = await readSecretSource(ref, "age identities", readSecret);
    const label = `Secret ${ref.namespace}/${ref.name}`;
    if (ref.key !== undefined) {
      out.push(...parseIdentities(data[ref.key]!.toString("utf8"), `key "${ref.key}" of the ${label}`));
      continue;
    }
    // Without a key: every key whose value reads as identities; other keys (a recipients list, a README) are left.
    const found = Object.entries(data).flatMap(([k, v]) => {
      try {
        return parseIdentities(v.toString("utf8"), k);
      } catch {
        return [];
      }
    });
    if (found.length === 0) throw new SnapshotEncryptionError(`the ${label} holds no age identity in any of its keys (${Object.keys(data).sort().join(", ") || "none"})`);
    out.push(...found);
  }
  return out;
}

/**
 * Passphrases from files or `secret:NAMESPACE/NAME/KEY`: the whole content but for one line ending at its end (as
 * `echo` or an editor leaves it). An empty one is refused: it would encrypt with nothing a person can give back.
 */
export async function loadPassphrases(sources: readonly string[], readSecret?: SecretReader): Promise<string[]> {
  const out: string[] = [];
  for (const source of sources) {
    const ref = secretSource(source);
    if (ref && ref.key === undefined) throw new SnapshotEncryptionError(`a passphrase from a Secret needs its key: secret:${ref.namespace}/${ref.name}/KEY`);
    const text = ref
      ? (await readSecretSource(ref, "a passphrase", readSecret))[ref.key!]!.toString("utf8")
      : await readFile(source, "utf8").catch((err: Error) => {
          throw new SnapshotEncryptionError(`passphrase file ${source} cannot be read: ${err.message}`, { cause: err });
        });
    const passphrase = text.replace(/\r?\n$/, "");
    if (passphrase === "") throw new SnapshotEncryptionError(`the passphrase in ${source} is empty`);
    out.push(passphrase);
  }
  return out;
}

/**
 * A stream stage: plaintext in, age ciphertext out, in constant memory. A passphrase costs one scrypt at age's
 * own work factor (2^18: about a second and 256 MiB, once per snapshot), so `age -d` accepts the file.
 */
export function encryptStage(to: EncryptionTarget): Duplex {
  if ("passphrase" in to && to.passphrase === "") throw new SnapshotEncryptionError("encryption with a passphrase needs a passphrase that is not empty");
  if ("recipients" in to && to.recipients.length === 0) throw new SnapshotEncryptionError("encryption needs at least one recipient");
  return Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    const { Encrypter } = await import("age-encryption");
    const encrypter = new Encrypter();
    if ("passphrase" in to) encrypter.setPassphrase(to.passphrase);
    else for (const r of to.recipients) encrypter.addRecipient(r);
    const encrypted = await encrypter.encrypt(webStreamOf(source));
    yield* Readable.fromWeb(encrypted as unknown as WebReadableStream<Uint8Array>);
  });
}

/**
 * A stream stage: age ciphertext in, plaintext out. A wrong identity, a damaged or truncated file fails the
 * stream with a SnapshotEncryptionError (age authenticates every chunk and the end).
 */
export function decryptStage(identities: readonly AgeIdentity[], what: string, encryption?: SnapshotEncryption): Duplex {
  const passphrases = identities.filter((i) => typeof i !== "string");
  if (encryption?.passphrase && passphrases.length === 0) {
    throw new SnapshotEncryptionError(`${what} is age-encrypted with a passphrase: pass it (--passphrase-file FILE or secret:NAMESPACE/NAME/KEY)`);
  }
  if (identities.length === 0) {
    throw new SnapshotEncryptionError(`${what} is age-encrypted: pass the identity that decrypts it (--identity FILE as age-keygen writes it, or secret:NAMESPACE/NAME)`);
  }
  return Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    const { Decrypter } = await import("age-encryption");
    const decrypter = new Decrypter();
    for (const i of identities) {
      if (typeof i === "string") decrypter.addIdentity(i);
      else decrypter.addPassphrase(i.passphrase);
    }
    try {
      const plain = await decrypter.decrypt(webStreamOf(source));
      yield* Readable.fromWeb(plain as unknown as WebReadableStream<Uint8Array>);
    } catch (err) {
      throw new SnapshotEncryptionError(`${what} cannot be decrypted: ${(err as Error).message} (the wrong identity, or a damaged or truncated object)`, { cause: err });
    }
  });
}

function webStreamOf(source: AsyncIterable<Buffer>): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { value, done } = await iterator.next();
        if (done) controller.close();
        else controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
      },
      async cancel(reason) {
        await iterator.return?.(reason);
      },
    },
    { highWaterMark: 1 },
  );
}

/**
 * The stages from a stored object's bytes to the snapshot etcd sent: decrypt (an encrypted record) and decompress
 * (as the record says; records before zstd say gzip, and without one the key's ending tells).
 * An encrypted record without identities is a SnapshotEncryptionError that says what to pass.
 */
export function plaintextStages(record: { key: string; encryption?: SnapshotEncryption; compression?: SnapshotCompression }, identities: readonly AgeIdentity[] = []): Duplex[] {
  const inflate = decompressor(record.compression ?? compressionOfKey(record.key));
  return record.encryption ? [decryptStage(identities, `snapshot ${record.key}`, record.encryption), inflate] : [inflate];
}

