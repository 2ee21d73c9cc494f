// `twinsnap restore run --backup NAME`: carries out the plan `twinsnap restore plan` prints, step by step. The
// automatic steps it does itself; at each manual step it stops (exit code 3) with what to do and the command to
// continue. Its state lives in the store beside the pair record, so a rerun resumes at the first unfinished step.
import { formatPlan, type EtcdTarget, type RestoreMode } from "../coordinator/restore-plan.js";
import { conflictingParams, newRunState, nextMove, progressOf, restoreRunKey, RestoreRunStateError } from "../coordinator/restore-run-state.js";
import { writeRunState } from "../coordinator/restore-run-store.js";
import { runRestore, type RestoreEffects } from "../coordinator/restore-runner.js";
import { etcdutlSnapshotStatus } from "../etcd/etcdutl.js";
import { restoreMember } from "../etcd/restore.js";
import { verifyStoredSnapshot } from "../etcd/snapshot.js";
import { loadClusterConnection } from "../kube/kubeconfig.js";
import { rawClient } from "../kube/raw-client.js";
import { loadRestorePlan } from "./restore-plan-command.js";
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

export async function restoreRunCommand(opts: RestoreRunOptions, io: Io): Promise<number> {
  const { store, pair, plan, saved } = await loadRestorePlan(opts);
  if (saved) {
    const conflicts = conflictingParams(saved, { ...(opts.mode ? { mode: opts.mode } : {}), etcd: opts.etcd });
    if (conflicts.length > 0) {
      throw new UsageError(`a restore run of ${pair.backup.name} started at ${saved.startedAt} with other parameters: ${conflicts.join("; ")}. Rerun without them (the run keeps its own), or remove ${restoreRunKey(pair.backup.uid)} from the store to start over`);
    }
  }
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
    saveState: (s) => writeRunState(store, s),
    async verifySnapshot(etcdutl) {
      if (!snapshot) throw new Error(`backup ${pair.backup.name} has no etcd snapshot`);
      await verifyStoredSnapshot(store, snapshot);
      const status = await etcdutlSnapshotStatus(etcdutl, store, snapshot.key, snapshot.compression);
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
    store.close?.();
  }
}
