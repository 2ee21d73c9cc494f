// `twinsnap etcd restore`: a member's data directory from the snapshot paired with a Velero backup (or a named
// snapshot), verified before use. For a multi-member control plane it restores this member and prints the
// command for each of the others.
import { findPairRecord } from "../pairs/pair-store.js";
import { initialCluster, restoreCommand, restoreMember } from "../etcd/restore.js";
import type { SnapshotRecord } from "../etcd/snapshot.js";
import { openCliStore } from "./cli-store.js";
import { loadAgeKeys } from "./age-keys.js";
import type { ObjectStore } from "../store/object-store.js";
import { parseCluster } from "./parse-flags.js";
import { NotFoundError, UsageError } from "./usage-error.js";

export interface EtcdRestoreOptions {
  store: string;
  backup?: string;
  snapshot?: string;
  name: string;
  initialCluster?: string;
  peerUrl?: string;
  dataDir: string;
  etcdutl: string;
  bumpRevision: number;
  force: boolean;
  /** For --store bsl:<name>. */
  kubeconfig?: string;
  veleroNamespace: string;
  env: Readonly<Record<string, string | undefined>>;
  /** --identity: age identity files, or secret:NAMESPACE/NAME[/KEY]; --passphrase-file: files or secret:NAMESPACE/NAME/KEY. */
  identities?: string[];
  passphraseFiles?: string[];
  context?: string;
}

async function snapshotRecord(store: ObjectStore, opts: EtcdRestoreOptions): Promise<SnapshotRecord> {
  if (opts.backup) {
    const pair = await findPairRecord(store, opts.backup);
    if (!pair) throw new NotFoundError(`no pair record for backup "${opts.backup}" in ${store.url}`);
    if (!pair.snapshot) throw new UsageError(`backup "${opts.backup}" has no etcd snapshot (${pair.state}${pair.reason ? `: ${pair.reason}` : pair.etcd ? `: ${pair.etcd.reason}` : ""})`);
    return pair.snapshot;
  }
  const chunks: Buffer[] = [];
  for await (const c of await store.get(`snapshots/${opts.snapshot}.json`)) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8")) as SnapshotRecord;
}

export async function etcdRestoreCommand(opts: EtcdRestoreOptions, io: { out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  if (!opts.backup === !opts.snapshot) throw new UsageError("etcd restore needs exactly one of --backup NAME or --snapshot NAME");
  const store = await openCliStore(opts);
  try {
    return await restoreFromStore(store, opts, io);
  } finally {
    store.close?.();
  }
}

async function restoreFromStore(store: ObjectStore, opts: EtcdRestoreOptions, io: { out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  const record = await snapshotRecord(store, opts);
  const identities = await loadAgeKeys(opts);
  const cluster = opts.initialCluster ? parseCluster(opts.initialCluster) : [{ name: opts.name, peerUrl: opts.peerUrl ?? "http://127.0.0.1:2380" }];
  const member = cluster.find((m) => m.name === opts.name);
  if (!member) throw new UsageError(`--name ${opts.name} is not in --initial-cluster ${initialCluster(cluster)}`);
  io.err(`restoring member ${member.name} from ${store.url}/${record.key} (etcd revision ${record.revision}, sha256 ${record.snapshotSha256.slice(0, 12)}…)\n`);
  const result = await restoreMember({ store, snapshot: record, member, cluster, dataDir: opts.dataDir, etcdutl: opts.etcdutl, bumpRevision: opts.bumpRevision, force: opts.force, identities });
  if (result.movedAside) io.err(`the previous data directory was moved to ${result.movedAside}\n`);
  io.out(`restored ${member.name} into ${result.dataDir}; start etcd on it with --initial-cluster-state=new\n`);
  const others = cluster.filter((m) => m !== member);
  if (others.length > 0) {
    io.out(`\nOn each other member, with the same snapshot (verify it: twinsnap pairs verify), run:\n`);
    for (const m of others) io.out(`  ${restoreCommand("etcdutl", "<snapshot.db>", m, cluster, opts.dataDir, opts.bumpRevision).join(" ")}\n`);
  }
  return 0;
}
