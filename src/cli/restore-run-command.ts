// `twinsnap restore run --backup NAME`: carries out the new-cluster path of the plan — the same Restore object
// `velero restore create` makes, followed until Velero finishes, with its warnings and errors reported. The
// Restore's name is kept beside the pair record, so an interrupted run resumes following it instead of
// creating a second one. (The same-cluster path needs node access; `twinsnap restore plan` prints its steps.)
import { Readable } from "node:stream";
import { findPairRecord } from "../coordinator/pair-store.js";
import { restorePlan, type RestoreMode } from "../coordinator/restore-plan.js";
import { loadClusterConnection } from "../kube/kubeconfig.js";
import { rawClient, type RawClient } from "../kube/raw-client.js";
import { openCliStore } from "./cli-store.js";
import type { ObjectStore } from "../store/object-store.js";
import { UsageError } from "./usage-error.js";

export interface RestoreRunOptions {
  backup: string;
  store: string;
  kubeconfig?: string;
  mode?: RestoreMode;
  veleroNamespace: string;
  dryRun: boolean;
  timeoutMs: number;
  pollMs?: number;
  env: Readonly<Record<string, string | undefined>>;
}

interface VeleroRestore {
  metadata: { name: string };
  status?: {
    phase?: string;
    progress?: { totalItems?: number; itemsRestored?: number };
    warnings?: number;
    errors?: number;
    failureReason?: string;
    validationErrors?: string[];
  };
}

const FINISHED = new Set(["Completed", "PartiallyFailed", "Failed", "FailedValidation"]);
const stateKey = (uid: string) => `restores/${uid}.json`;

async function readState(store: ObjectStore, uid: string): Promise<{ restoreName: string } | undefined> {
  if (!(await store.head(stateKey(uid)))) return undefined;
  const chunks: Buffer[] = [];
  for await (const c of await store.get(stateKey(uid))) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8")) as { restoreName: string };
}

export async function restoreRunCommand(opts: RestoreRunOptions, io: { out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  const client = rawClient(await loadClusterConnection({ env: opts.env, ...(opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig } : {}) }));
  let store: Awaited<ReturnType<typeof openCliStore>> | undefined;
  try {
    store = await openCliStore({ ...opts, client });
    const pair = await findPairRecord(store, opts.backup);
    if (!pair) throw new UsageError(`no pair record for backup "${opts.backup}" in ${opts.store}`);
    const identity = (await client.get<{ metadata: { uid: string } }>("/api/v1/namespaces/kube-system"))?.metadata.uid;
    const plan = restorePlan({ pair, cluster: identity ? { identity } : { unreachable: "kube-system not found" }, store: opts.store, veleroNamespace: opts.veleroNamespace, ...(opts.mode ? { override: opts.mode } : {}) });
    for (const w of plan.warnings) io.err(`warning: ${w}\n`);
    if (plan.mode === "same-cluster") {
      throw new UsageError("this is the cluster the backup came from: its recovery restores etcd on the control-plane nodes; follow `twinsnap restore plan --backup " + opts.backup + "` (or pass --mode new-cluster to restore through Velero)");
    }
    return await followVeleroRestore(client, store, pair.backup.name, pair.backup.uid, opts, io);
  } finally {
    client.close();
    store?.close?.();
  }
}

async function followVeleroRestore(client: RawClient, store: ObjectStore, backup: string, uid: string, opts: RestoreRunOptions, io: { out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  const ns = encodeURIComponent(opts.veleroNamespace);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const poll = opts.pollMs ?? 2000;
  const deadline = Date.now() + opts.timeoutMs;
  const previous = await readState(store, uid);
  let name = previous?.restoreName;
  if (name && !(await client.get(`/apis/velero.io/v1/namespaces/${ns}/restores/${encodeURIComponent(name)}`))) name = undefined;

  if (!name) {
    const restore = { apiVersion: "velero.io/v1", kind: "Restore", metadata: { name: `${backup}-twinsnap-${Date.now().toString(36)}`, namespace: opts.veleroNamespace }, spec: { backupName: backup } };
    if (opts.dryRun) {
      io.out(`would wait for Velero to list backup ${backup}, then create:\n${JSON.stringify(restore, null, 2)}\n`);
      return 0;
    }
    // Velero lists a backup from its storage location by itself (every minute by default): wait for it.
    io.err(`waiting for Velero to list backup ${backup} in ${opts.veleroNamespace}...\n`);
    while (!(await client.get(`/apis/velero.io/v1/namespaces/${ns}/backups/${encodeURIComponent(backup)}`))) {
      if (Date.now() > deadline) throw new Error(`Velero does not list backup ${backup}; is its backup storage location configured on this cluster?`);
      await sleep(poll);
    }
    await client.send("POST", `/apis/velero.io/v1/namespaces/${ns}/restores`, restore);
    name = restore.metadata.name;
    await store.put(stateKey(uid), Readable.from([JSON.stringify({ restoreName: name, backup, createdAt: new Date().toISOString() })]));
    io.err(`created Restore ${opts.veleroNamespace}/${name}\n`);
  } else {
    io.err(`resuming: following Restore ${opts.veleroNamespace}/${name} created by an earlier run\n`);
  }

  let last = "";
  for (;;) {
    const r = await client.get<VeleroRestore>(`/apis/velero.io/v1/namespaces/${ns}/restores/${encodeURIComponent(name)}`);
    if (!r) throw new Error(`Restore ${name} disappeared`);
    const s = r.status ?? {};
    const progress = s.progress?.totalItems ? ` (${s.progress.itemsRestored ?? 0}/${s.progress.totalItems} items)` : "";
    const line = `${s.phase ?? "New"}${progress}`;
    if (line !== last) io.err(`restore ${name}: ${line}\n`);
    last = line;
    if (s.phase && FINISHED.has(s.phase)) {
      io.out(`Restore ${name} from backup ${backup}: ${s.phase}, ${s.warnings ?? 0} warning(s), ${s.errors ?? 0} error(s)\n`);
      if (s.failureReason) io.out(`failure: ${s.failureReason}\n`);
      for (const v of s.validationErrors ?? []) io.out(`validation error: ${v}\n`);
      if ((s.warnings ?? 0) + (s.errors ?? 0) > 0) io.out(`details: velero restore describe ${name} --details -n ${opts.veleroNamespace}\n`);
      return s.phase === "Completed" ? 0 : 1;
    }
    if (Date.now() > deadline) throw new Error(`Restore ${name} has not finished in time (phase ${s.phase ?? "New"}); rerun to keep following it`);
    await sleep(poll);
  }
}
