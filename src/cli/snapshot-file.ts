// The etcd snapshot a command reads offline, as a local bbolt file: `--snapshot FILE` (plain, or zstd- or
// gzip-compressed, as etcdctl writes it or as the store keeps it), or the snapshot paired with `--backup NAME` in the store, copied
// (decompressed) into a private temporary directory that is removed afterwards: it holds every Secret.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { PairRecord } from "../pairs/pair-record.js";
import { findPairRecord } from "../pairs/pair-store.js";
import { SnapshotReader } from "../etcd/snapshot-keys.js";
import { decompressor, type SnapshotCompression } from "../etcd/compression.js";
import { plaintextStages, type AgeIdentity } from "../etcd/snapshot-encryption.js";
import type { ObjectStore } from "../store/object-store.js";
import { openCliStore, type CliStoreOptions } from "./cli-store.js";
import { UsageError } from "./usage-error.js";
import { loadAgeKeys } from "./age-keys.js";

export interface SnapshotSourceOptions extends Omit<CliStoreOptions, "client"> {
  backup?: string;
  snapshotFile?: string;
  /** --identity: age identity files, or secret:NAMESPACE/NAME[/KEY]; --passphrase-file: files or secret:NAMESPACE/NAME/KEY. */
  identities?: string[];
  passphraseFiles?: string[];
}

export interface OpenedSnapshot {
  reader: SnapshotReader;
  /** What was read, for messages: the file, or "snapshot of backup NAME (store/key)". */
  source: string;
  record?: PairRecord;
  close(): Promise<void>;
}

/** By the file's first bytes: gzip (1f 8b), zstd (28 b5 2f fd), or a bbolt file as etcd wrote it. */
async function compressionOfFile(file: string): Promise<SnapshotCompression> {
  const handle = await open(file, "r");
  try {
    const head = Buffer.alloc(4);
    await handle.read(head, 0, 4, 0);
    if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
    if (head.readUInt32LE(0) === 0xfd2fb528) return "zstd";
    return "none";
  } finally {
    await handle.close();
  }
}

async function privateCopy(from: Readable, stages: readonly (Transform | NodeJS.ReadWriteStream)[]): Promise<{ file: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "twinsnap-snapshot-"));
  const file = join(dir, "snapshot.db");
  try {
    await (pipeline as (...args: unknown[]) => Promise<void>)(from, ...stages, createWriteStream(file, { mode: 0o600 }));
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return { file, dir };
}

export async function openSnapshot(opts: SnapshotSourceOptions): Promise<OpenedSnapshot> {
  if (opts.snapshotFile && opts.backup) throw new UsageError("give --backup NAME or --snapshot FILE, not both");
  if (opts.snapshotFile) {
    const file = opts.snapshotFile;
    const compression = await compressionOfFile(file);
    if (compression !== "none") {
      const copy = await privateCopy(createReadStream(file), [decompressor(compression)]);
      return withReader(copy.file, file, undefined, () => rm(copy.dir, { recursive: true, force: true }));
    }
    return withReader(file, file, undefined, async () => undefined);
  }
  if (!opts.backup) throw new UsageError("name the snapshot: --backup NAME (its pair in --store) or --snapshot FILE");
  const store = await openCliStore(opts);
  try {
    const record = await findPairRecord(store, opts.backup);
    if (!record) throw new UsageError(`no pair record for backup "${opts.backup}" in ${opts.store}`);
    if (!record.snapshot) throw new UsageError(`backup "${opts.backup}" has no etcd snapshot (pair state ${record.state}${record.reason ? `: ${record.reason}` : ""})`);
    return await openStoredSnapshot(store, record.snapshot.key, record, await loadAgeKeys(opts));
  } finally {
    store.close?.();
  }
}

/** A snapshot in a store (the key its record names: snapshots/<uid>/<writer>.db.zst, .db.gz before zstd), copied out decompressed as its record says. */
export async function openStoredSnapshot(store: ObjectStore, key: string, record?: PairRecord, identities: readonly AgeIdentity[] = []): Promise<OpenedSnapshot> {
  const stages = plaintextStages({ key, ...(record?.snapshot?.compression ? { compression: record.snapshot.compression } : {}), ...(record?.snapshot?.encryption ? { encryption: record.snapshot.encryption } : {}) }, identities);
  const copy = await privateCopy(await store.get(key), stages);
  return withReader(copy.file, `${record ? `snapshot of backup ${record.backup.name} ` : ""}(${store.url}/${key})`, record, () => rm(copy.dir, { recursive: true, force: true }));
}

async function withReader(file: string, source: string, record: PairRecord | undefined, cleanup: () => Promise<void>): Promise<OpenedSnapshot> {
  let reader: SnapshotReader;
  try {
    reader = await SnapshotReader.open(file);
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    reader,
    source,
    ...(record ? { record } : {}),
    async close() {
      await reader.close();
      await cleanup();
    },
  };
}
