// `twinsnap etcd snapshot`: one verified etcd snapshot into a store, with its record printed as JSON.
import { connectEtcd } from "../etcd/etcd-client.js";
import { etcdutlSnapshotStatus } from "../etcd/etcdutl.js";
import { saveSnapshot } from "../etcd/snapshot.js";
import { DEFAULT_SNAPSHOT_COMPRESSION, snapshotExtension, type SnapshotCompression } from "../etcd/compression.js";
import { openCliStore } from "./cli-store.js";
import { Readable } from "node:stream";

export interface EtcdSnapshotOptions {
  endpoints: string[];
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  store: string;
  name: string;
  /** Also check the stored snapshot with etcd's own tool. */
  etcdutl?: string;
  /** For --store bsl:<name>. */
  kubeconfig?: string;
  veleroNamespace: string;
  env: Readonly<Record<string, string | undefined>>;
  /** Default zstd; the key ends in .db.zst, .db.gz or .db accordingly. */
  compression?: SnapshotCompression;
  /** Also read the stored object back in full (a second pass; the first already verifies). */
  readBack?: boolean;
}

export async function etcdSnapshotCommand(opts: EtcdSnapshotOptions, io: { out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  const store = await openCliStore(opts);
  const client = connectEtcd({ endpoints: opts.endpoints, ...(opts.caFile ? { caFile: opts.caFile } : {}), ...(opts.certFile ? { certFile: opts.certFile } : {}), ...(opts.keyFile ? { keyFile: opts.keyFile } : {}) });
  try {
    const compression = opts.compression ?? DEFAULT_SNAPSHOT_COMPRESSION;
    const key = `snapshots/${opts.name}${snapshotExtension(compression)}`;
    io.err(`snapshotting etcd at ${opts.endpoints.join(",")} into ${store.url}/${key}...\n`);
    const record = await saveSnapshot(client, store, key, { compression, readBack: opts.readBack ?? false });
    const etcdutl = opts.etcdutl ? await etcdutlSnapshotStatus(opts.etcdutl, store, key, compression) : undefined;
    if (etcdutl && String(etcdutl.revision) !== record.revision) {
      throw new Error(`etcdutl reads revision ${etcdutl.revision} from ${key}, the stream said ${record.revision}`);
    }
    const full = { ...record, ...(etcdutl ? { etcdutl } : {}) };
    await store.put(`snapshots/${opts.name}.json`, Readable.from([`${JSON.stringify(full, null, 2)}\n`]));
    io.out(`${JSON.stringify(full, null, 2)}\n`);
    return 0;
  } finally {
    client.close();
    store.close?.();
  }
}
