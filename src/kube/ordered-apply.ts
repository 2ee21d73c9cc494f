// Applies objects in dependency order: each object starts once everything it needs among the objects has been
// applied and is ready (a CRD Established, a Namespace Active); independent objects go concurrently. A failure
// fails only the objects that needed it, each with the reason.
import type { DependencyRef, DependencyRule, Readiness } from "../manifest/dependency-rule.js";
import { formatKey, keyOf } from "../manifest/object-key.js";
import type { KubeObject } from "../manifest/object.js";
import { restoreOrder, type RestoreOrder } from "../manifest/restore-order.js";

export type ApplyAction = "created" | "configured" | "unchanged" | "failed" | "not-attempted";

export interface ApplyOutcome {
  key: string;
  action: ApplyAction;
  /** Dry run: the server validated the object but did not store it. */
  dryRun: boolean;
  error?: string;
}

/** The cluster side of an apply; the real one is kube-apply-target.ts. */
export interface ApplyTarget {
  /** A fingerprint of the object's current content, or undefined if it does not exist. */
  current(obj: KubeObject): Promise<string | undefined>;
  /** Server-side apply; returns the fingerprint of the resulting content. */
  apply(obj: KubeObject, dryRun: boolean): Promise<string>;
  isReady(dep: DependencyRef): Promise<boolean>;
  /**
   * Learn the current state of many objects at once before the apply starts (a LIST per resource and namespace
   * instead of a GET per object); `current` answers from it where it can.
   */
  prefetch?(objects: readonly KubeObject[]): Promise<void>;
}

export interface OrderedApplyOptions {
  dryRun?: boolean;
  /** Objects applied at once (default 16: on a 2-core control plane, 3000 objects went 10% faster than at 8). */
  concurrency?: number;
  /** How long to wait for a dependency to become ready (default 60 s). */
  readinessTimeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  onOutcome?: (outcome: ApplyOutcome) => void;
  /** Dependency rules (default: the built-in ones). */
  rules?: readonly DependencyRule[];
}

export interface ApplySummary {
  outcomes: ApplyOutcome[];
  cycles: string[][];
  counts: Record<ApplyAction, number>;
}

/** Readiness worth waiting for; "exists" is satisfied by the apply itself and "serving" only by running Pods. */
const WAITED: ReadonlySet<Readiness> = new Set(["established", "active"]);

export async function orderedApply(objects: readonly KubeObject[], target: ApplyTarget, opts: OrderedApplyOptions = {}): Promise<ApplySummary> {
  const plan: RestoreOrder = restoreOrder(objects, opts.rules);
  const dryRun = opts.dryRun ?? false;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = opts.now ?? Date.now;
  const timeoutMs = opts.readinessTimeoutMs ?? 60_000;
  const concurrency = Math.max(1, opts.concurrency ?? 16);

  await target.prefetch?.(plan.order.map((o) => o.object));
  const keys = plan.order.map((o) => formatKey(keyOf(o.object)));
  const position = new Map(keys.map((k, i) => [k, i]));
  const outcomes: (ApplyOutcome | undefined)[] = new Array(keys.length);
  const settled: Promise<void>[] = new Array(keys.length);
  // Whether each object was only validated (dry run of something the server does not have yet).
  const absentAfterDryRun = new Set<string>();

  // One wait per dependency, shared by everything that needs it: a namespace of 3000 objects is read once, not
  // 3000 times (each check is a GET against the apiserver). Readiness, once seen, holds for the rest of the apply.
  const readiness = new Map<string, Promise<string | undefined>>();
  const waitReady = (dep: DependencyRef): Promise<string | undefined> => {
    if (!WAITED.has(dep.readiness)) return Promise.resolve(undefined);
    if (dryRun && absentAfterDryRun.has(formatKey(dep))) return Promise.resolve(undefined);
    const key = `${formatKey(dep)} ${dep.readiness}`;
    let wait = readiness.get(key);
    if (!wait) readiness.set(key, (wait = pollReady(dep)));
    return wait;
  };
  const pollReady = async (dep: DependencyRef): Promise<string | undefined> => {
    const deadline = now() + timeoutMs;
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      if (await target.isReady(dep)) return undefined;
      if (now() >= deadline) return `${formatKey(dep)} is not ${dep.readiness} after ${Math.round(timeoutMs / 1000)} s`;
      await sleep(delay);
    }
  };

  // A small semaphore: the order is a valid schedule, so each object only waits for its own dependencies.
  let running = 0;
  const queue: (() => void)[] = [];
  const slot = async () => {
    if (running >= concurrency) await new Promise<void>((r) => queue.push(r));
    running++;
  };
  const release = () => {
    running--;
    queue.shift()?.();
  };

  // Webhooks, admission policies and APIServices intercept or serve other objects: the order puts them last, and
  // they also wait until every object before them has settled, so none is applied while another is in flight.
  const firstLast = plan.order.findIndex((o) => o.phase === "admission-and-aggregation");

  const run = async (i: number): Promise<void> => {
    const { object, dependsOn, phase } = plan.order[i]!;
    const key = keys[i]!;
    if (phase === "admission-and-aggregation" && firstLast >= 0) await Promise.all(settled.slice(0, firstLast));
    // Wait for dependencies that come earlier in the order (a dependency later in the order is a broken cycle).
    const earlier = dependsOn.filter((d) => (position.get(formatKey(d)) ?? Infinity) < i);
    await Promise.all(earlier.map((d) => settled[position.get(formatKey(d))!]));
    const failedDep = earlier.find((d) => outcomes[position.get(formatKey(d))!]?.action === "failed" || outcomes[position.get(formatKey(d))!]?.action === "not-attempted");
    let outcome: ApplyOutcome;
    if (failedDep) {
      outcome = { key, action: "not-attempted", dryRun, error: `needs ${formatKey(failedDep)}, which failed` };
    } else {
      await slot();
      try {
        const notReady = (await Promise.all(earlier.map(waitReady))).find((r) => r !== undefined);
        if (notReady) {
          outcome = { key, action: "not-attempted", dryRun, error: notReady };
        } else if (dryRun && earlier.some((d) => d.readiness === "established" && absentAfterDryRun.has(formatKey(d)))) {
          // The server cannot validate a custom resource whose CRD it does not have yet.
          outcome = { key, action: "created", dryRun, error: "not validated: its CRD is only created by this apply" };
          absentAfterDryRun.add(key);
        } else {
          outcome = await applyOne(object, key, target, dryRun, absentAfterDryRun);
        }
      } finally {
        release();
      }
    }
    outcomes[i] = outcome;
    opts.onOutcome?.(outcome);
  };

  for (let i = 0; i < keys.length; i++) settled[i] = run(i);
  await Promise.all(settled);

  const counts: Record<ApplyAction, number> = { created: 0, configured: 0, unchanged: 0, failed: 0, "not-attempted": 0 };
  for (const o of outcomes) counts[o!.action]++;
  return { outcomes: outcomes as ApplyOutcome[], cycles: plan.cycles, counts };
}

async function applyOne(object: KubeObject, key: string, target: ApplyTarget, dryRun: boolean, absentAfterDryRun: Set<string>): Promise<ApplyOutcome> {
  try {
    const before = await target.current(object);
    const after = await target.apply(object, dryRun);
    if (before === undefined) {
      if (dryRun) absentAfterDryRun.add(key);
      return { key, action: "created", dryRun };
    }
    return { key, action: before === after ? "unchanged" : "configured", dryRun };
  } catch (err) {
    return { key, action: "failed", dryRun, error: (err as Error).message };
  }
}
