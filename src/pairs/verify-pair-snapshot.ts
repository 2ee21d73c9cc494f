// A pair's snapshot, checked as `pairs verify` and `restore run` check it before trusting it: the stored object
// read back against its record (size and sha256; inside an age encryption too when identities are given), then
// etcdutl's own reading of it, whose revision must be the one the record names.
import { etcdutlSnapshotStatus, type EtcdutlStatus } from "../etcd/etcdutl.js";
import { verifyStoredSnapshot, type SnapshotRecord } from "../etcd/snapshot.js";
import type { ObjectStore } from "../store/object-store.js";
import type { AgeIdentity } from "../etcd/snapshot-encryption.js";

export type PairSnapshotCheck =
  /** Read back and, with etcdutl, read by etcdutl at the recorded revision. */
  | { checked: "snapshot"; etcdutl?: EtcdutlStatus }
  /** age-encrypted and no identity given: only the ciphertext as stored was checked. */
  | { checked: "stored-only" };

export class SnapshotRevisionMismatchError extends Error {
  override readonly name = "SnapshotRevisionMismatchError";
  constructor(
    readonly key: string,
    readonly etcdutlRevision: number,
    readonly recordedRevision: string,
  ) {
    super(`etcdutl reads revision ${etcdutlRevision} from ${key}, the pair recorded ${recordedRevision}`);
  }
}

export async function verifyPairSnapshot(store: ObjectStore, snapshot: SnapshotRecord, opts: { etcdutl?: string | undefined; identities: readonly AgeIdentity[] }): Promise<PairSnapshotCheck> {
  if ((await verifyStoredSnapshot(store, snapshot, opts.identities)) === "stored-only") return { checked: "stored-only" };
  if (!opts.etcdutl) return { checked: "snapshot" };
  const status = await etcdutlSnapshotStatus(opts.etcdutl, store, snapshot.key, snapshot, opts.identities);
  if (String(status.revision) !== snapshot.revision) throw new SnapshotRevisionMismatchError(snapshot.key, status.revision, snapshot.revision);
  return { checked: "snapshot", etcdutl: status };
}
