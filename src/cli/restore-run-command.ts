// `twinsnap restore run --backup NAME`: carries out the plan `twinsnap restore plan` prints, step by step. The
// automatic steps it does itself; at each manual step it stops (exit code 3) with what to do and the command to
// continue. Its state lives in the store beside the pair record, so a rerun resumes at the first unfinished step.
import { Readable } from "node:stream";
import { findPairRecord } from "../coordinator/pair-store.js";
import type { PairRecord } from "../coordinator/pair-record.js";
import { formatPlan, restorePlan, type EtcdTarget, type RestoreMode } from "../coordinator/restore-plan.js";
import { conflictingParams, newRunState, nextMove, parseRunState, progressOf, restoreRunKey, RestoreRunStateError, type RestoreRunState } from "../coordinator/restore-run-state.js";
import { runRestore, type RestoreEffects } from "../coordinator/restore-runner.js";
import { etcdutlSnapshotStatus } from "../etcd/etcdutl.js";
import { restoreMember } from "../etcd/restore.js";
import { verifyStoredSnapshot } from "../etcd/snapshot.js";
import { loadClusterConnection } from "../kube/kubeconfig.js";
import { rawClient } from "../kube/raw-client.js";
import { openStore } from "../store/open-store.js";
import type { ObjectStore } from "../store/object-store.js";
import { clusterFacts } from "./cluster-facts.js";
import { UsageError } from "./usage-error.js";

export interface RestoreRunOptions {
  backup: string;
  store: string;
  kubeconfig?: string;
  mode?: RestoreMode;
  veleroNamespace: string;
  dryRun: boolean;
  /** The manual step the operator has done (--continue STEP). */
  continueStep?: string;
  /** This node's etcd member, for the same-cluster path (flags as for `twinsnap etcd restore`). */
  etcd: Partial<EtcdTarget>;
  timeoutMs: number;
  pollMs?: number;
  env: Readonly<Record<string, string | undefined>>;
}

type Io = { out: (s: string) => void; err: (s: string) => void };

async function readRunState(store: ObjectStore, pair: PairRecord, veleroNamespace: string): Promise<RestoreRunState | undefined> {
  const key = restoreRunKey(pair.backup.uid);
  if (!(await store.head(key))) return undefined;
  const chunks: Buffer[] = [];
  for await (const c of await store.get(key)) chunks.push(c as Buffer);
  return parseRunState(Buffer.concat(chunks).toString("utf8"), { name: pair.backup.name, uid: pair.backup.uid }, veleroNamespace);
}

export async function restoreRunCommand(opts: RestoreRunOptions, io: Io): Promise<number> {
  const store = openStore(opts.store);
  const pair = await findPairRecord(store, opts.backup);
  if (!pair) throw new UsageError(`no pair record for backup "${opts.backup}" in ${opts.store}`);
  const saved = await readRunState(store, pair, opts.veleroNamespace);
  if (saved) {
    const conflicts = conflictingParams(saved, { ...(opts.mode ? { mode: opts.mode } : {}), etcd: opts.etcd });
    if (conflicts.length > 0) {
      throw new UsageError(`a restore run of ${pair.backup.name} started at ${saved.startedAt} with other parameters: ${conflicts.join("; ")}. Rerun without them (the run keeps its own), or remove ${restoreRunKey(pair.backup.uid)} from the store to start over`);
    }
  }
  const access = { env: opts.env, ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}) };
  const plan = restorePlan({
    pair,
    cluster: saved ? {} : await clusterFacts(access),
    store: opts.store,
    veleroNamespace: saved?.params.veleroNamespace ?? opts.veleroNamespace,
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
    ...(saved ? { resumeOf: { mode: saved.mode, startedAt: saved.startedAt } } : opts.mode ? { override: opts.mode } : {}),
    // --force may be added on a rerun (e.g. when a killed restore left its finished data directory behind).
    ...(saved?.params.etcd ? { etcd: { ...saved.params.etcd, ...(opts.etcd.force ? { force: true } : {}) } } : { etcd: opts.etcd }),
  });
  for (const w of plan.warnings) io.err(`warning: ${w}\n`);

  if (opts.dryRun) {
    io.out(formatPlan(plan, pair, progressOf(saved)));
    io.out(`dry run: nothing was done${saved ? ` (the run started at ${saved.startedAt} is left as it is)` : ""}\n`);
    return 0;
  }
  try {
    nextMove(plan, saved, opts.continueStep); // a --continue that does not match the saved run is refused before anything is done
  } catch (err) {
    if (err instanceof RestoreRunStateError) throw new UsageError(err.message);
    throw err;
  }
  if (plan.blocked && !saved) throw new UsageError(`restore run cannot start: ${plan.blocked}. The plan:\n\n${formatPlan(plan, pair)}`);

  const etcdTarget = plan.steps.flatMap((s) => (s.kind === "automatic" && s.action.type === "restore-etcd" ? [s.action.target] : []))[0];
  const state = saved ?? newRunState(plan, { name: pair.backup.name, uid: pair.backup.uid }, { veleroNamespace: opts.veleroNamespace, ...(etcdTarget ? { etcd: etcdTarget } : {}) }, new Date());
  const client = rawClient(await loadClusterConnection({ env: opts.env, ...(opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig } : {}) }), { timeoutMs: 10_000 });
  const snapshot = pair.snapshot;
  const effects: RestoreEffects = {
    kube: client,
    now: () => new Date(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    saveState: async (s) => void (await store.put(restoreRunKey(pair.backup.uid), Readable.from([`${JSON.stringify(s, null, 2)}\n`]))),
    async verifySnapshot(etcdutl) {
      if (!snapshot) throw new Error(`backup ${pair.backup.name} has no etcd snapshot`);
      await verifyStoredSnapshot(store, snapshot);
      const status = await etcdutlSnapshotStatus(etcdutl, store, snapshot.key);
      if (String(status.revision) !== snapshot.revision) throw new Error(`etcdutl reads revision ${status.revision} from the snapshot, the pair recorded ${snapshot.revision}`);
      return `snapshot ${snapshot.key} reads back (${snapshot.snapshotBytes} bytes, sha256 ${snapshot.snapshotSha256.slice(0, 12)}…); etcdutl reads revision ${status.revision}, ${status.totalKey} keys`;
    },
    async restoreEtcd(target) {
      if (!snapshot) throw new Error(`backup ${pair.backup.name} has no etcd snapshot`);
      const member = target.cluster.find((m) => m.name === target.member)!;
      return restoreMember({ store, snapshot, member, cluster: target.cluster, dataDir: target.dataDir, etcdutl: target.etcdutl, bumpRevision: target.bumpRevision, force: target.force });
    },
  };
  try {
    const { exitCode } = await runRestore({ plan, state, effects, io, timeoutMs: opts.timeoutMs, pollMs: opts.pollMs ?? 2000, ...(opts.continueStep ? { continueStep: opts.continueStep } : {}) });
    return exitCode;
  } finally {
    client.close();
  }
}
