// `twinsnap etcd snapshot`: one verified etcd snapshot into a store, with its record printed as JSON.
import { connectEtcd } from "../etcd/etcd-client.js";
import { etcdutlSnapshotStatus } from "../etcd/etcdutl.js";
import { saveSnapshot } from "../etcd/snapshot.js";
import { loadRecipients } from "../etcd/snapshot-encryption.js";
import { encryptionPassphrase } from "./age-keys.js";
import { DEFAULT_SNAPSHOT_COMPRESSION, snapshotExtension, type SnapshotCompression } from "../etcd/compression.js";
import { openCliStore } from "./cli-store.js";
import { Readable } from "node:stream";
import { byteProgress } from "./progress.js";

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
  /** age recipients (--encrypt-to) and recipients files (--encrypt-to-file). */
  encryptTo?: string[];
  encryptToFiles?: string[];
  /** --encrypt-passphrase-file: a file or secret:NAMESPACE/NAME/KEY holding the passphrase (age -p). */
  encryptPassphraseFile?: string;
  context?: string;
  /** Default zstd; the key ends in .db.zst, .db.gz or .db accordingly. */
  compression?: SnapshotCompression;
  /** Also read the stored object back in full (a second pass; the first already verifies). */
  readBack?: boolean;
}

export async function etcdSnapshotCommand(opts: EtcdSnapshotOptions, io: { out: (s: string) => void; err: (s: string) => void; interactive?: boolean }): Promise<number> {
  // Recipients are checked before etcd or the store is touched: a typo must not make a snapshot nobody can read.
  const recipients = await loadRecipients(opts.encryptTo ?? [], opts.encryptToFiles ?? []);
  const passphrase = await encryptionPassphrase(opts, recipients);
  const store = await openCliStore(opts);
  const client = connectEtcd({ endpoints: opts.endpoints, ...(opts.caFile ? { caFile: opts.caFile } : {}), ...(opts.certFile ? { certFile: opts.certFile } : {}), ...(opts.keyFile ? { keyFile: opts.keyFile } : {}) });
  try {
    const compression = opts.compression ?? DEFAULT_SNAPSHOT_COMPRESSION;
    const encrypted = recipients.length > 0 || passphrase !== undefined;
    const key = `snapshots/${opts.name}${snapshotExtension(compression)}${encrypted ? ".age" : ""}`;
    io.err(`snapshotting etcd at ${opts.endpoints.join(",")} into ${store.url}/${key}${encrypted ? `, ${passphrase !== undefined ? "age-encrypted with a passphrase" : `age-encrypted to ${recipients.length} recipient(s)`}` : ""}...\n`);
    const progress = byteProgress(io, "streamed");
    const record = await saveSnapshot(client, store, key, { compression, readBack: opts.readBack ?? false, encryptTo: recipients, ...(passphrase !== undefined ? { encryptPassphrase: passphrase } : {}), onProgress: (bytes, total) => progress.update(bytes, total) }).finally(() => progress.done());
    // etcdutl needs the plaintext: without an identity here (the point of encrypting) it cannot check an encrypted one.
    const etcdutl = opts.etcdutl && !encrypted ? await etcdutlSnapshotStatus(opts.etcdutl, store, key, { compression }) : undefined;
    if (opts.etcdutl && encrypted) io.err("the snapshot is encrypted: etcdutl snapshot status is left to `twinsnap pairs verify --identity FILE`\n");
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
