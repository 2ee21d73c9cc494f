// `twinsnap restore run --backup NAME`: carries out the plan `twinsnap restore plan` prints, step by step. The
// automatic steps it does itself; at each manual step it stops (exit code 3) with what to do and the command to
// continue. Its state lives in the store beside the pair record, so a rerun resumes at the first unfinished step.
import { formatPlan, type EtcdTarget, type RestoreMode } from "../recovery/restore-plan.js";
import { loadAgeKeys } from "./age-keys.js";
import { conflictingParams, newRunState, nextMove, progressOf, restoreRunKey, RestoreRunStateError } from "../recovery/restore-run-state.js";
import { writeRunState } from "../recovery/restore-run-store.js";
import { runRestore, type RestoreEffects } from "../recovery/restore-runner.js";
import { verifyPairSnapshot } from "../pairs/verify-pair-snapshot.js";
import { restoreMember } from "../etcd/restore.js";
import { loadClusterConnection } from "../kube/kubeconfig.js";
import { rawClient } from "../kube/raw-client.js";
import { loadRestorePlan } from "./load-restore-plan.js";
import { UsageError } from "./usage-error.js";
import { randomBytes } from "node:crypto";
import { hostname, userInfo } from "node:os";
import { acquireRestoreLock, type HeldLock } from "../recovery/restore-run-lock.js";

export interface RestoreRunOptions {
  backup: string;
  store: string;
  kubeconfig?: string;
  context?: string;
  /** --confirm-same-cluster: the operator's consent to the path that replaces this cluster's etcd. */
  confirmSameCluster?: boolean;
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
  /** --identity: age identity files, or secret:NAMESPACE/NAME[/KEY]; --passphrase-file: files or secret:NAMESPACE/NAME/KEY. */
  identities?: string[];
  passphraseFiles?: string[];
}

type Io = { out: (s: string) => void; err: (s: string) => void };

/** Whether a process with this pid runs on this host (EPERM: it does, as another user). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

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
  if (plan.mode === "same-cluster" && !saved && !opts.confirmSameCluster) {
    throw new UsageError(
      `restore run would take the same-cluster path (${plan.why}): it replaces this cluster's etcd with the snapshot of ${pair.backup.name}` +
        `${pair.snapshot ? ` (revision ${pair.snapshot.revision})` : ""}, and every change since is lost. Read the plan (twinsnap restore plan, or --dry-run), then rerun with --confirm-same-cluster`,
    );
  }

  // One run per backup at a time; the lock names this run, its scratch files carry the same id.
  const runId = randomBytes(6).toString("hex");
  let lock: HeldLock;
  try {
    lock = await acquireRestoreLock({ store, backupUid: pair.backup.uid, owner: { host: hostname(), pid: process.pid, user: userInfo().username, runId }, now: () => new Date(), holderIsDead: (o) => o.host === hostname() && !pidAlive(o.pid) });
  } catch (err) {
    store.close?.();
    throw err;
  }
  const heartbeat = setInterval(() => void lock.refresh().catch((err: unknown) => io.err(`warning: could not refresh the restore run's lock: ${(err as Error).message}\n`)), 60_000);
  // Interrupted (Ctrl-C, SIGTERM): give the lock back so a rerun can start at once; the state says where it was.
  const interrupted = (signal: NodeJS.Signals) => {
    io.err(`restore run interrupted (${signal}); rerun the same command to resume\n`);
    void lock.release().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);

  const etcdTarget = plan.steps.flatMap((s) => (s.kind === "automatic" && s.action.type === "restore-etcd" ? [s.action.target] : []))[0];
  const state = saved ?? newRunState(plan, { name: pair.backup.name, uid: pair.backup.uid }, { veleroNamespace: opts.veleroNamespace, ...(etcdTarget ? { etcd: etcdTarget } : {}) }, new Date());
  let client: ReturnType<typeof rawClient>;
  try {
    client = rawClient(await loadClusterConnection({ env: opts.env, ...(opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig } : {}), ...(opts.context ? { context: opts.context } : {}) }), { timeoutMs: 10_000 });
  } catch (err) {
    process.removeListener("SIGINT", interrupted);
    process.removeListener("SIGTERM", interrupted);
    clearInterval(heartbeat);
    await lock.release().catch(() => undefined);
    store.close?.();
    throw err;
  }
  const snapshot = pair.snapshot;
  const identities = await loadAgeKeys({ ...opts, client });
  const effects: RestoreEffects = {
    kube: client,
    now: () => new Date(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    saveState: (s) => writeRunState(store, s),
    async verifySnapshot(etcdutl) {
      if (!snapshot) throw new Error(`backup ${pair.backup.name} has no etcd snapshot`);
      const check = await verifyPairSnapshot(store, snapshot, { etcdutl, identities });
      if (check.checked === "stored-only") {
        throw new Error(`the snapshot of ${pair.backup.name} is age-encrypted: rerun with --identity FILE (the age identity of one of its recipients: ${snapshot.encryption?.recipients.join(", ")})`);
      }
      const status = check.etcdutl!;
      return `snapshot ${snapshot.key} reads back (${snapshot.snapshotBytes} bytes, sha256 ${snapshot.snapshotSha256.slice(0, 12)}…); etcdutl reads revision ${status.revision}, ${status.totalKey} keys`;
    },
    async restoreEtcd(target, beforeMoveAside) {
      if (!snapshot) throw new Error(`backup ${pair.backup.name} has no etcd snapshot`);
      const member = target.cluster.find((m) => m.name === target.member)!;
      return restoreMember({ store, snapshot, member, cluster: target.cluster, dataDir: target.dataDir, etcdutl: target.etcdutl, bumpRevision: target.bumpRevision, force: target.force, runId, beforeMoveAside, identities });
    },
  };
  try {
    const { exitCode } = await runRestore({ plan, state, effects, io, timeoutMs: opts.timeoutMs, pollMs: opts.pollMs ?? 2000, ...(opts.continueStep ? { continueStep: opts.continueStep } : {}) });
    return exitCode;
  } finally {
    process.removeListener("SIGINT", interrupted);
    process.removeListener("SIGTERM", interrupted);
    clearInterval(heartbeat);
    await lock.release().catch((err: unknown) => io.err(`warning: could not remove the restore run's lock: ${(err as Error).message}\n`));
    client.close();
    store.close?.();
  }
}
