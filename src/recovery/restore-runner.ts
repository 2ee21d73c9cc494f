// Carries out a restore plan step by step: the automatic steps through injected effects (etcd restore, the
// apiserver, the store, the clock), stopping at each manual step with what to do and how to continue. The state is
// saved after every change, so an interrupted run resumes at the first unfinished step and never repeats one.
import type { AutomaticStep, EtcdTarget, ManualStep, PlanStep, RestorePlan, StepAction, VeleroRestoreObject } from "./restore-plan.js";
import { continueCommand, EXIT_MANUAL_STEP, formatStep } from "./restore-plan.js";
import { nextMove, type RestoreRunState, type StepRecord } from "./restore-run-state.js";
import { CLUSTER_IDENTITY_PATH, veleroPath, type VeleroBackup } from "../velero/velero-api.js";

/** The apiserver, as the runner uses it (RawClient fits). `get` resolves undefined for 404. */
export interface KubeAccess {
  get<T>(path: string): Promise<T | undefined>;
  send<T>(method: "POST" | "DELETE", path: string, body: unknown): Promise<T>;
}

export interface RestoreEffects {
  /** Re-reads the pair's snapshot (size, sha256) and has etcd check it; resolves a one-line description. */
  verifySnapshot(etcdutl: string): Promise<string>;
  /** `beforeMoveAside` is called with where an existing data directory goes, before it moves (the run records it). */
  restoreEtcd(target: EtcdTarget, beforeMoveAside: (path: string) => Promise<void>): Promise<{ dataDir: string; movedAside?: string }>;
  kube: KubeAccess;
  saveState(state: RestoreRunState): Promise<void>;
  now(): Date;
  sleep(ms: number): Promise<void>;
}

export interface RunRestoreOptions {
  plan: RestorePlan;
  state: RestoreRunState;
  continueStep?: string;
  effects: RestoreEffects;
  io: { out: (s: string) => void; err: (s: string) => void };
  /** How long one waiting step (apiserver, Velero) may wait. */
  timeoutMs: number;
  pollMs: number;
}

/** A step that could not be carried out: what went wrong and what the operator can do about it. */
export class RestoreStepError extends Error {
  override readonly name = "RestoreStepError";
  constructor(
    message: string,
    readonly whatToDo: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const RESTORABLE_BACKUP = new Set(["Completed", "PartiallyFailed"]);
const FAILED_BACKUP = new Set(["Failed", "FailedValidation", "Deleting"]);
const FINISHED_RESTORE = new Set(["Completed", "PartiallyFailed", "Failed", "FailedValidation"]);

interface VeleroRestore {
  status?: { phase?: string; progress?: { totalItems?: number; itemsRestored?: number }; warnings?: number; errors?: number; failureReason?: string; validationErrors?: string[] };
}

export async function runRestore(opts: RunRestoreOptions): Promise<{ exitCode: number; state: RestoreRunState }> {
  const { plan, effects, io } = opts;
  const state = opts.state;
  const total = plan.steps.length;
  const label = (i: number) => `[${i + 1}/${total}]`;
  const save = async () => {
    state.updatedAt = effects.now().toISOString();
    await effects.saveState(state);
  };
  const record = (step: PlanStep): StepRecord => (state.steps[step.id] ??= {});

  plan.steps.forEach((s, i) => {
    const done = state.steps[s.id]?.finishedAt;
    if (done) io.err(`${label(i)} ${s.title}: done earlier (${done})\n`);
  });
  let continueStep = opts.continueStep;
  for (;;) {
    const move = nextMove(plan, state, continueStep);
    continueStep = undefined; // it confirms one step only
    if (move.move === "finished") {
      if (!state.finishedAt) {
        state.finishedAt = effects.now().toISOString();
        await save();
      }
      io.out(summary(plan, state));
      return { exitCode: 0, state };
    }
    const step = plan.steps[move.index]!;
    const rec = record(step);
    if (move.move === "confirm") {
      rec.finishedAt = effects.now().toISOString();
      rec.result = "done by the operator";
      delete rec.waitingSince;
      await save();
      io.err(`${label(move.index)} ${step.title}: done by you\n`);
      continue;
    }
    if (move.move === "stop") {
      rec.waitingSince ??= effects.now().toISOString();
      await save();
      io.err(`${label(move.index)} ${step.title}: yours to do; stopping (exit code ${EXIT_MANUAL_STEP})\n`);
      io.out(manualInstructions(plan, step as ManualStep, move.index));
      return { exitCode: EXIT_MANUAL_STEP, state };
    }
    // Automatic step, or a manual step twinsnap can check.
    const started = effects.now();
    rec.startedAt ??= started.toISOString();
    delete rec.lastError;
    await save();
    io.err(`${label(move.index)} ${step.title}...\n`);
    try {
      if (step.kind === "manual") {
        if (!(await checkManual(step, opts))) {
          rec.waitingSince ??= effects.now().toISOString();
          await save();
          io.err(`${label(move.index)} not done yet; stopping (exit code ${EXIT_MANUAL_STEP})\n`);
          io.out(manualInstructions(plan, step, move.index));
          return { exitCode: EXIT_MANUAL_STEP, state };
        }
        rec.result = "found done";
      } else {
        rec.result = await perform(step, opts, (line) => io.err(`${label(move.index)} ${line}\n`));
      }
    } catch (err) {
      rec.lastError = (err as Error).message;
      await save();
      const whatToDo = err instanceof RestoreStepError ? err.whatToDo : "fix the cause, then rerun the same command: it resumes at this step";
      io.err(`${label(move.index)} failed: ${(err as Error).message}\n`);
      io.out(`Step ${move.index + 1} of ${total} failed: ${step.title}\n  ${(err as Error).message}\nWhat to do: ${whatToDo}\nThen resume with: ${plan.resumeCommand}\n`);
      return { exitCode: 1, state };
    }
    rec.finishedAt = effects.now().toISOString();
    delete rec.waitingSince;
    await save();
    io.err(`${label(move.index)} done in ${((effects.now().getTime() - started.getTime()) / 1000).toFixed(1)} s: ${rec.result}\n`);
  }
}

function manualInstructions(plan: RestorePlan, step: ManualStep, index: number): string {
  return [
    `Step ${index + 1} of ${plan.steps.length} is yours to do:`,
    formatStep(step, index),
    "",
    "When it is done, continue with:",
    `  ${continueCommand(plan, step.id)}`,
    "",
  ].join("\n");
}

function summary(plan: RestorePlan, state: RestoreRunState): string {
  const lines = [`Recovery from backup ${state.backup.name} (${plan.mode}) finished: ${plan.steps.length} steps, started ${state.startedAt}, finished ${state.finishedAt}`];
  plan.steps.forEach((s, i) => lines.push(`  ${i + 1}. ${s.id}: ${state.steps[s.id]?.result ?? "done"}`));
  return `${lines.join("\n")}\n`;
}

async function checkManual(step: ManualStep, opts: RunRestoreOptions): Promise<boolean> {
  if (step.check === "velero-installed") {
    return (await opts.effects.kube.get(`${veleroPath(opts.state.params.veleroNamespace, "restores")}?limit=1`)) !== undefined;
  }
  return false;
}

async function perform(step: AutomaticStep, opts: RunRestoreOptions, progress: (line: string) => void): Promise<string> {
  const action: StepAction = step.action;
  switch (action.type) {
    case "verify-snapshot":
      return opts.effects.verifySnapshot(action.etcdutl);
    case "restore-etcd": {
      // Where the live data directory goes is saved before it moves: a run that fails right after still says.
      const result = await opts.effects.restoreEtcd(action.target, async (path) => {
        opts.state.movedAsideDataDir = path;
        opts.state.updatedAt = opts.effects.now().toISOString();
        await opts.effects.saveState(opts.state);
        progress(`moving the existing data directory ${action.target.dataDir} to ${path}`);
      });
      opts.state.restoredDataDir = result.dataDir;
      if (result.movedAside) {
        opts.state.movedAsideDataDir = result.movedAside;
        progress(`the previous data directory was moved to ${result.movedAside}`);
      }
      return `member ${action.target.member} restored into ${result.dataDir}${result.movedAside ? ` (the previous one is at ${result.movedAside})` : ""}`;
    }
    case "wait-apiserver":
      return waitForApiserver(action.identity, opts, progress);
    case "velero-restore":
      return veleroRestore(action.restore, action.replaceStaleBackup, opts, progress);
  }
}

async function waitUntil<T>(opts: RunRestoreOptions, what: string, whatToDo: string, attempt: () => Promise<T | undefined>): Promise<T> {
  const deadline = opts.effects.now().getTime() + opts.timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (opts.effects.now().getTime() >= deadline) throw new RestoreStepError(`${what} after ${Math.round(opts.timeoutMs / 1000)} s`, whatToDo);
    await opts.effects.sleep(opts.pollMs);
  }
}

async function waitForApiserver(identity: string, opts: RunRestoreOptions, progress: (line: string) => void): Promise<string> {
  let last = "";
  const say = (line: string) => {
    if (line !== last) progress(line);
    last = line;
  };
  return waitUntil(opts, "the apiserver did not answer as the backed-up cluster", "check that etcd runs on the restored data directory and kube-apiserver on that etcd (their logs), and that the kubeconfig is an admin's (--kubeconfig /etc/kubernetes/admin.conf on a kubeadm node); then rerun: it resumes at this step", async () => {
    let ns: { metadata: { uid: string } } | undefined;
    try {
      ns = await opts.effects.kube.get<{ metadata: { uid: string } }>(CLUSTER_IDENTITY_PATH);
    } catch (err) {
      const status = (err as { status?: number }).status;
      // Refusals are waited out too: a starting apiserver may deny RBAC-authorized users until its caches are filled.
      say(status === 401 || status === 403 ? `the apiserver refuses the kubeconfig's credentials (${(err as Error).message})` : `the apiserver does not answer yet (${(err as Error).message})`);
      return undefined;
    }
    if (!ns) {
      say("the apiserver answers, but kube-system does not exist yet");
      return undefined;
    }
    if (ns.metadata.uid !== identity) {
      throw new RestoreStepError(
        `the apiserver answers as another cluster (kube-system uid ${ns.metadata.uid}, the backup's is ${identity})`,
        `etcd does not serve the restored data: point etcd at ${opts.state.restoredDataDir ?? "the restored data directory"}, restart it and the API servers, then rerun`,
      );
    }
    return `the apiserver answers with kube-system uid ${identity}`;
  });
}

async function veleroRestore(restore: VeleroRestoreObject, replaceStaleBackup: boolean, opts: RunRestoreOptions, progress: (line: string) => void): Promise<string> {
  const { kube } = opts.effects;
  const name = restore.metadata.name;
  const backup = restore.spec.backupName;
  const restorePath = veleroPath(restore.metadata.namespace, "restores", name);
  const ours = opts.state.restoreName === name; // chosen by an earlier run of this recovery
  if (ours && (await kube.get(restorePath))) {
    progress(`following Restore ${restore.metadata.namespace}/${name}, created by an earlier run`);
  } else {
    await waitForBackup(restore, replaceStaleBackup, opts, progress);
    opts.state.restoreName = name;
    opts.state.updatedAt = opts.effects.now().toISOString();
    await opts.effects.saveState(opts.state); // before creating it: a run killed right after still finds it
    try {
      await kube.send("POST", veleroPath(restore.metadata.namespace, "restores"), restore);
      progress(`created Restore ${restore.metadata.namespace}/${name}`);
    } catch (err) {
      if ((err as { status?: number }).status !== 409) throw err;
      if (!ours) {
        throw new RestoreStepError(
          `a Restore named ${name} already exists and was not made by this run`,
          `look at it (velero restore describe ${name} -n ${restore.metadata.namespace}); if it is from an earlier recovery, delete it (velero restore delete ${name} -n ${restore.metadata.namespace}) and rerun`,
        );
      }
      progress(`following Restore ${restore.metadata.namespace}/${name}, created by an earlier run`);
    }
  }
  let last = "";
  const r = await waitUntil(opts, `Restore ${name} has not finished`, `rerun the same command to keep following it; velero restore describe ${name} -n ${restore.metadata.namespace} says where it is`, async () => {
    const current = await kube.get<VeleroRestore>(restorePath);
    if (!current) throw new RestoreStepError(`Restore ${name} disappeared`, "rerun: the run creates it again");
    const s = current.status ?? {};
    const line = `restore ${name}: ${s.phase ?? "New"}${s.progress?.totalItems ? ` (${s.progress.itemsRestored ?? 0}/${s.progress.totalItems} items)` : ""}`;
    if (line !== last) progress(line);
    last = line;
    return s.phase && FINISHED_RESTORE.has(s.phase) ? current : undefined;
  });
  const s = r.status!;
  const counts = `${s.warnings ?? 0} warning(s), ${s.errors ?? 0} error(s)`;
  if (s.phase !== "Completed") {
    const why = [s.failureReason, ...(s.validationErrors ?? [])].filter(Boolean).join("; ");
    throw new RestoreStepError(
      `Restore ${name} from backup ${backup}: ${s.phase}, ${counts}${why ? `: ${why}` : ""}`,
      `read velero restore describe ${name} --details -n ${restore.metadata.namespace} and velero restore logs ${name} -n ${restore.metadata.namespace}; to try again, delete the Restore (velero restore delete ${name} -n ${restore.metadata.namespace}) and rerun`,
    );
  }
  return `Restore ${name} from backup ${backup}: Completed, ${counts}`;
}

async function waitForBackup(restore: VeleroRestoreObject, replaceStaleBackup: boolean, opts: RunRestoreOptions, progress: (line: string) => void): Promise<void> {
  const backup = restore.spec.backupName;
  const nsName = restore.metadata.namespace;
  const path = veleroPath(nsName, "backups", backup);
  let replaced = false;
  let last = "";
  const say = (line: string) => {
    if (line !== last) progress(line);
    last = line;
  };
  await waitUntil(opts, `Velero does not list backup ${backup} as restorable`, `check Velero's backup storage location (velero backup-location get -n ${nsName}) and its backup sync (velero server logs), then rerun`, async () => {
    const b = await opts.effects.kube.get<VeleroBackup>(path);
    const phase = b?.status?.phase ?? "";
    if (b && RESTORABLE_BACKUP.has(phase)) return true;
    if (b && replaceStaleBackup && !replaced) {
      // The object came back from etcd as it was during the backup; the storage location holds the final one.
      await opts.effects.kube.send("DELETE", path, { apiVersion: "v1", kind: "DeleteOptions", preconditions: { uid: b.metadata.uid } });
      replaced = true;
      progress(`Velero's Backup ${backup} is back from etcd as ${phase || "New"}: removed it so Velero's backup sync lists it again from the storage location (the backup's data stays)`);
      return undefined;
    }
    if (b && FAILED_BACKUP.has(phase)) throw new RestoreStepError(`Velero lists backup ${backup} as ${phase}: it cannot be restored`, `choose another backup (twinsnap pairs list)`);
    say(b ? `waiting for Velero's backup ${backup} to be restorable (it is ${phase || "New"})` : `waiting for Velero to list backup ${backup} in ${nsName} (its backup sync runs every minute)`);
    return undefined;
  });
}
