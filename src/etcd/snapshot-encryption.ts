// Client-side encryption of etcd snapshots with age (https://age-encryption.org/v1): a snapshot holds every Secret
// of the cluster, and a store (a bucket, a hostPath) is rarely guarded as well as etcd itself. age because a person
// can decrypt it during a disaster without twinsnap (`age -d -i key.txt snap.db.gz.age | gunzip`), its X25519
// recipients are public keys (the coordinator encrypts and cannot decrypt), and it streams in 64 KiB chunks.
// The stage comes after compression (ciphertext does not compress), as a stream stage of its own, so another
// compressor composes with it: etcd -> sha256 -> compress -> encrypt -> store.
import { readFile } from "node:fs/promises";
import { Duplex, Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { Decrypter, Encrypter } from "age-encryption";
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
  /** The public keys it was encrypted to (any one identity among them decrypts it). */
  recipients: string[];
}

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

/** Identities (`AGE-SECRET-KEY-1...`) from files as age-keygen writes them (comments and public-key lines allowed). */
export async function loadIdentities(files: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const file of files) {
    const text = await readFile(file, "utf8").catch((err: Error) => {
      throw new SnapshotEncryptionError(`identity file ${file} cannot be read: ${err.message}`, { cause: err });
    });
    const keys = text
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    for (const key of keys) {
      if (!IDENTITY.test(key)) throw new SnapshotEncryptionError(`identity file ${file}: a line is not an age identity (AGE-SECRET-KEY-1..., as age-keygen writes it)`);
      out.push(key);
    }
    if (keys.length === 0) throw new SnapshotEncryptionError(`identity file ${file} holds no age identity`);
  }
  return out;
}

/** A stream stage: plaintext in, age ciphertext out, in constant memory. */
export function encryptStage(recipients: readonly string[]): Duplex {
  if (recipients.length === 0) throw new SnapshotEncryptionError("encryption needs at least one recipient");
  const encrypter = new Encrypter();
  for (const r of recipients) encrypter.addRecipient(r);
  return Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    const encrypted = await encrypter.encrypt(webStreamOf(source));
    yield* Readable.fromWeb(encrypted as unknown as WebReadableStream<Uint8Array>);
  });
}

/**
 * A stream stage: age ciphertext in, plaintext out. A wrong identity, a damaged or truncated file fails the
 * stream with a SnapshotEncryptionError (age authenticates every chunk and the end).
 */
export function decryptStage(identities: readonly string[], what: string): Duplex {
  if (identities.length === 0) {
    throw new SnapshotEncryptionError(`${what} is age-encrypted: pass the identity that decrypts it (--identity FILE, as age-keygen writes it)`);
  }
  const decrypter = new Decrypter();
  for (const i of identities) decrypter.addIdentity(i);
  return Duplex.from(async function* (source: AsyncIterable<Buffer>) {
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
export function plaintextStages(record: { key: string; encryption?: SnapshotEncryption; compression?: SnapshotCompression }, identities: readonly string[] = []): Duplex[] {
  const inflate = decompressor(record.compression ?? compressionOfKey(record.key));
  return record.encryption ? [decryptStage(identities, `snapshot ${record.key}`), inflate] : [inflate];
}

