// The saved state of a `twinsnap restore run`, kept in the store beside the pair record (restores/<backup uid>.json)
// so that the run survives the loss of the cluster and of the machine it ran on. One versioned format for both
// paths. Pure: what a run does next follows from the plan, this state and the operator's --continue.
import type { EtcdTarget, RestoreMode, RestorePlan, StepId, StepProgress } from "./restore-plan.js";

export const RESTORE_RUN_API_VERSION = "twinsnap.dev/v1alpha1";
export const restoreRunKey = (backupUid: string) => `restores/${backupUid}.json`;

export interface StepRecord {
  startedAt?: string;
  finishedAt?: string;
  /** A manual step the run stopped at, waiting for the operator's --continue. */
  waitingSince?: string;
  /** What the step left behind, for the summary (e.g. "restored into /var/lib/etcd-twinsnap"). */
  result?: string;
  /** Why the last attempt failed; cleared when the step is tried again. */
  lastError?: string;
}

export interface RestoreRunState {
  apiVersion: typeof RESTORE_RUN_API_VERSION;
  kind: "RestoreRun";
  backup: { name: string; uid: string };
  mode: RestoreMode;
  /** The parameters the run started with; later runs reuse them, so `--continue` needs none of them again. */
  params: { veleroNamespace: string; etcd?: EtcdTarget };
  steps: Partial<Record<StepId, StepRecord>>;
  /** The data directory etcd was restored into (same-cluster path). */
  restoredDataDir?: string;
  /** Where an existing data directory was moved by --force. */
  movedAsideDataDir?: string;
  /** The Velero Restore this run made; chosen and saved before it is created, so a rerun follows it. */
  restoreName?: string;
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
}

/** The state file as the first version of `restore run` wrote it (new-cluster path only). */
interface LegacyRunState {
  restoreName: string;
  backup: string;
  createdAt?: string;
}

export class RestoreRunStateError extends Error {
  override readonly name = "RestoreRunStateError";
}

export function newRunState(plan: RestorePlan, backup: { name: string; uid: string }, params: RestoreRunState["params"], now: Date): RestoreRunState {
  const at = now.toISOString();
  if (plan.mode === "undecided") throw new RestoreRunStateError(`no recovery path was chosen: ${plan.why}`);
  return { apiVersion: RESTORE_RUN_API_VERSION, kind: "RestoreRun", backup, mode: plan.mode, params, steps: {}, startedAt: at, updatedAt: at };
}

/** Reads any version of the saved state; earlier versions are converted, unknown ones refused. */
export function parseRunState(text: string, backup: { name: string; uid: string }, veleroNamespace: string): RestoreRunState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new RestoreRunStateError(`the saved restore run state is not JSON (${(err as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new RestoreRunStateError(`the saved restore run state is not an object (${raw === null ? "null" : Array.isArray(raw) ? "an array" : typeof raw}); remove ${restoreRunKey(backup.uid)} from the store to start over`);
  }
  const obj = raw as Partial<RestoreRunState> & Partial<LegacyRunState>;
  if (obj.apiVersion === RESTORE_RUN_API_VERSION && obj.kind === "RestoreRun") {
    const problems = runStateProblems(obj, backup.uid);
    if (problems.length > 0) throw new RestoreRunStateError(`the saved restore run state ${restoreRunKey(backup.uid)} is damaged: ${problems.join("; ")}; remove it from the store to start over`);
    return obj as RestoreRunState;
  }
  if (obj.apiVersion === undefined && typeof obj.restoreName === "string") {
    // Written before steps existed: a new-cluster run that had created its Restore.
    const at = obj.createdAt ?? new Date(0).toISOString();
    return {
      apiVersion: RESTORE_RUN_API_VERSION,
      kind: "RestoreRun",
      backup,
      mode: "new-cluster",
      params: { veleroNamespace },
      steps: { "install-velero": { finishedAt: at }, "restore-objects": { startedAt: at } },
      restoreName: obj.restoreName,
      startedAt: at,
      updatedAt: at,
    };
  }
  throw new RestoreRunStateError(`the saved restore run state has an unknown format (apiVersion ${String(obj.apiVersion)}, kind ${String(obj.kind)})`);
}

const STEP_IDS = new Set<string>(["verify-snapshot", "stop-control-plane", "restore-etcd", "restore-other-members", "start-control-plane", "wait-apiserver", "restore-volumes", "install-velero", "restore-objects"]);

/** What makes a state of the current version unusable (empty: usable). */
function runStateProblems(obj: Partial<RestoreRunState>, uid: string): string[] {
  const problems: string[] = [];
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (obj.mode !== "same-cluster" && obj.mode !== "new-cluster") problems.push(`mode ${JSON.stringify(obj.mode)} is not same-cluster or new-cluster`);
  if (!isObj(obj.backup) || typeof obj.backup.uid !== "string" || typeof obj.backup.name !== "string") problems.push("backup is missing");
  else if (obj.backup.uid !== uid) problems.push(`it belongs to backup uid ${obj.backup.uid}, not ${uid}`);
  if (!isObj(obj.params) || typeof obj.params.veleroNamespace !== "string") problems.push("params.veleroNamespace is missing");
  else if (obj.params.etcd !== undefined && (!isObj(obj.params.etcd) || typeof obj.params.etcd.dataDir !== "string" || typeof obj.params.etcd.member !== "string" || !Array.isArray(obj.params.etcd.cluster))) problems.push("params.etcd is incomplete");
  if (!isObj(obj.steps)) problems.push("steps is not an object");
  else {
    for (const [id, rec] of Object.entries(obj.steps)) {
      if (!STEP_IDS.has(id)) problems.push(`unknown step ${id}`);
      else if (!isObj(rec)) problems.push(`step ${id} is not an object`);
    }
  }
  if (typeof obj.startedAt !== "string") problems.push("startedAt is missing");
  return problems;
}

export function progressOf(state: RestoreRunState | undefined): StepProgress {
  const progress: StepProgress = {};
  for (const [id, rec] of Object.entries(state?.steps ?? {}) as [StepId, StepRecord][]) {
    if (rec.finishedAt) progress[id] = "done";
    else if (rec.waitingSince) progress[id] = "waiting";
  }
  return progress;
}

export type NextMove =
  | { move: "finished" }
  /** Carry out automatic step `index` (or check a manual step that has a check). */
  | { move: "run"; index: number }
  /** The operator confirmed manual step `index`: record it done and go on. */
  | { move: "confirm"; index: number }
  /** Stop at manual step `index` and tell the operator what to do. */
  | { move: "stop"; index: number };

/**
 * What the run does next. `continueStep` is the operator's --continue: it must name the manual step the saved
 * state waits at, and nothing else — a stale or mistyped --continue must not skip a step.
 */
export function nextMove(plan: RestorePlan, state: RestoreRunState | undefined, continueStep: string | undefined): NextMove {
  const index = plan.steps.findIndex((s) => !state?.steps[s.id]?.finishedAt);
  const waiting = plan.steps.find((s) => state?.steps[s.id]?.waitingSince && !state.steps[s.id]?.finishedAt);
  if (continueStep !== undefined) {
    if (!state) throw new RestoreRunStateError(`--continue ${continueStep}: no restore run of this backup has started; run without --continue first`);
    if (!waiting) {
      const next = plan.steps[index];
      throw new RestoreRunStateError(`--continue ${continueStep}: the run is not waiting for you (${next ? `its next step is ${index + 1}, ${next.id}` : "it has finished"}); run without --continue`);
    }
    if (waiting.id !== continueStep) throw new RestoreRunStateError(`--continue ${continueStep} does not match the saved run: it waits at step ${plan.steps.indexOf(waiting) + 1}, ${waiting.id} (--continue ${waiting.id} once it is done)`);
  }
  if (index < 0) return { move: "finished" };
  const step = plan.steps[index]!;
  if (step.kind === "automatic") return { move: "run", index };
  if (continueStep === step.id) return { move: "confirm", index };
  if (step.check) return { move: "run", index }; // checked again on every run: it may hold by now
  return { move: "stop", index };
}

/** A later run must carry on with the parameters the run started with; different ones are refused, not mixed. */
export function conflictingParams(state: RestoreRunState, given: { mode?: RestoreMode; etcd?: Partial<EtcdTarget> }): string[] {
  const conflicts: string[] = [];
  if (given.mode && given.mode !== state.mode) conflicts.push(`--mode ${given.mode} (the run is ${state.mode})`);
  const saved = state.params.etcd;
  const e = given.etcd ?? {};
  if (saved) {
    if (e.member !== undefined && e.member !== saved.member) conflicts.push(`--name ${e.member} (the run restores ${saved.member})`);
    if (e.dataDir !== undefined && e.dataDir !== saved.dataDir) conflicts.push(`--data-dir ${e.dataDir} (the run uses ${saved.dataDir})`);
    if (e.cluster !== undefined && JSON.stringify(e.cluster) !== JSON.stringify(saved.cluster)) conflicts.push(`--initial-cluster/--initial-advertise-peer-urls (the run uses ${saved.cluster.map((m) => `${m.name}=${m.peerUrl}`).join(",")})`);
    if (e.bumpRevision !== undefined && e.bumpRevision !== saved.bumpRevision) conflicts.push(`--bump-revision ${e.bumpRevision} (the run uses ${saved.bumpRevision})`);
  }
  return conflicts;
}
