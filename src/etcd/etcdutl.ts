// etcd's own check of a snapshot file: `etcdutl snapshot status` reads the database and its trailing checksum.
import { execFile } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import type { SnapshotCompression } from "./compression.js";
import type { ObjectStore } from "../store/object-store.js";
import { plaintextStages, type AgeIdentity, type SnapshotEncryption } from "./snapshot-encryption.js";

const run = promisify(execFile);

export interface EtcdutlStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
  version?: string;
}

export class EtcdutlError extends Error {
  override readonly name = "EtcdutlError";
}

/** Unpacks a stored snapshot to a temporary file and asks etcdutl about it. */
export async function etcdutlSnapshotStatus(etcdutl: string, store: ObjectStore, key: string, record?: { encryption?: SnapshotEncryption; compression?: SnapshotCompression }, identities: readonly AgeIdentity[] = []): Promise<EtcdutlStatus> {
  const stages = plaintextStages({ key, ...(record?.encryption ? { encryption: record.encryption } : {}), ...(record?.compression ? { compression: record.compression } : {}) }, identities);
  const dir = await mkdtemp(join(tmpdir(), "twinsnap-verify-")); // mkdtemp: mode 0700
  try {
    const file = join(dir, "snapshot.db");
    await (pipeline as (...args: unknown[]) => Promise<void>)(await store.get(key), ...stages, createWriteStream(file, { mode: 0o600 }));
    let stdout: string;
    try {
      ({ stdout } = await run(etcdutl, ["snapshot", "status", file, "--write-out=json"]));
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new EtcdutlError(`etcdutl rejects the snapshot ${key}: ${e.stderr?.trim() || e.message}`);
    }
    return JSON.parse(stdout) as EtcdutlStatus;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
