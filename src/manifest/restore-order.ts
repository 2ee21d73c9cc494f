// Dependency-first restore order: CRDs, then cluster-scoped objects, then namespaces, then namespaced
// objects, with admission webhooks and aggregated APIs last; within that, every object after what it needs
// (a stable topological order). Cycles are reported and broken deterministically, never looped on.
import type { DependencyContext, DependencyRef, DependencyRule } from "./dependency-rule.js";
import { BUILTIN_DEPENDENCY_RULES } from "./dependency-rules.js";
import { formatKey, keyOf } from "./object-key.js";
import { getAtPath } from "./field-path.js";
import { qualifiedKind, type KubeObject } from "./object.js";
import { restoredLast } from "./restored-last.js";

export const PHASES = ["crds", "cluster-scoped", "namespaces", "namespaced", "admission-and-aggregation"] as const;
export type Phase = (typeof PHASES)[number];

/** Tie-break order of kinds inside a phase (after dependencies): the usual order of a careful manual restore. */
const KIND_RANK: readonly string[] = [
  "apiextensions.k8s.io/CustomResourceDefinition",
  "Namespace",
  "storage.k8s.io/StorageClass",
  "snapshot.storage.k8s.io/VolumeSnapshotClass",
  "scheduling.k8s.io/PriorityClass",
  "node.k8s.io/RuntimeClass",
  "networking.k8s.io/IngressClass",
  "rbac.authorization.k8s.io/ClusterRole",
  "rbac.authorization.k8s.io/ClusterRoleBinding",
  "PersistentVolume",
  "ResourceQuota",
  "LimitRange",
  "ServiceAccount",
  "Secret",
  "ConfigMap",
  "rbac.authorization.k8s.io/Role",
  "rbac.authorization.k8s.io/RoleBinding",
  "PersistentVolumeClaim",
  "Service",
  "Endpoints",
  "discovery.k8s.io/EndpointSlice",
  "apps/StatefulSet",
  "apps/Deployment",
  "apps/DaemonSet",
  "apps/ReplicaSet",
  "batch/CronJob",
  "batch/Job",
  "Pod",
  "autoscaling/HorizontalPodAutoscaler",
  "policy/PodDisruptionBudget",
  "networking.k8s.io/NetworkPolicy",
  "networking.k8s.io/Ingress",
];
const KIND_RANK_INDEX = new Map(KIND_RANK.map((k, i) => [k, i]));

export function phaseOf(obj: KubeObject): Phase {
  const kind = qualifiedKind(obj);
  if (kind === "apiextensions.k8s.io/CustomResourceDefinition") return "crds";
  if (restoredLast(obj)) return "admission-and-aggregation";
  if (kind === "Namespace") return "namespaces";
  return obj.metadata.namespace ? "namespaced" : "cluster-scoped";
}

export interface OrderedObject {
  object: KubeObject;
  phase: Phase;
  /** Dependencies found among the ordered objects (each comes earlier in the order, unless in a reported cycle). */
  dependsOn: DependencyRef[];
}

export interface RestoreOrder {
  order: OrderedObject[];
  /** Each cycle as the keys around it; the order broke it at its first member. */
  cycles: string[][];
  /** Dependencies on objects that are not among the ones ordered (expected to exist already). */
  external: { from: string; needs: string }[];
}

/** The CRD that defines each group/kind among the objects. */
export function crdIndex(objects: readonly KubeObject[]): DependencyContext {
  const byKind = new Map<string, KubeObject>();
  for (const o of objects) {
    if (qualifiedKind(o) !== "apiextensions.k8s.io/CustomResourceDefinition") continue;
    const group = getAtPath(o, "spec.group");
    const kind = getAtPath(o, "spec.names.kind");
    if (typeof group === "string" && typeof kind === "string") byKind.set(`${group}/${kind}`, o);
  }
  return { crdFor: (group, kind) => byKind.get(`${group}/${kind}`) };
}

/** The dependencies the rules give an object (whether or not they are among the objects). */
export function dependenciesOf(obj: KubeObject, rules: readonly DependencyRule[], ctx: DependencyContext): DependencyRef[] {
  const kind = qualifiedKind(obj);
  const self = keyOf(obj);
  const seen = new Set<string>();
  const out: DependencyRef[] = [];
  for (const rule of rules) {
    if (rule.kinds !== "*" && !rule.kinds.includes(kind)) continue;
    for (const dep of rule.needs(obj, ctx)) {
      const k = formatKey(dep);
      if (seen.has(k) || k === formatKey(self)) continue;
      seen.add(k);
      out.push(dep);
    }
  }
  return out;
}

export function restoreOrder(objects: readonly KubeObject[], rules: readonly DependencyRule[] = BUILTIN_DEPENDENCY_RULES): RestoreOrder {
  const n = objects.length;
  const keys = objects.map((o) => formatKey(keyOf(o)));
  const indexByKey = new Map<string, number>();
  keys.forEach((k, i) => {
    if (!indexByKey.has(k)) indexByKey.set(k, i);
  });
  const phases = objects.map(phaseOf);

  // Tie-break rank: phase, then kind, then namespace/name — fixed before any dependency is considered,
  // so the same objects always come out in the same order.
  const tieOrder = [...objects.keys()].sort((a, b) => compareTie(objects, phases, keys, a, b));
  const rank = new Int32Array(n);
  tieOrder.forEach((idx, r) => (rank[idx] = r));

  const ctx = crdIndex(objects);
  const dependsOn: DependencyRef[][] = new Array(n);
  const dependents: number[][] = Array.from({ length: n }, () => []);
  const indegree = new Int32Array(n);
  const external: RestoreOrder["external"] = [];
  for (let i = 0; i < n; i++) {
    const deps = dependenciesOf(objects[i]!, rules, ctx);
    dependsOn[i] = [];
    for (const dep of deps) {
      const j = indexByKey.get(formatKey(dep));
      if (j === undefined) {
        external.push({ from: keys[i]!, needs: formatKey(dep) });
        continue;
      }
      if (j === i) continue;
      dependsOn[i]!.push(dep);
      dependents[j]!.push(i);
      indegree[i]!++;
    }
  }

  const heap = new MinHeap((a, b) => rank[a]! - rank[b]!);
  for (let i = 0; i < n; i++) if (indegree[i] === 0) heap.push(i);
  const done = new Uint8Array(n);
  const order: OrderedObject[] = [];
  const cycles: string[][] = [];
  while (order.length < n) {
    if (heap.size === 0) {
      // Everything left waits on something left: a cycle. Report one, release its earliest member.
      const cycle = findCycle(n, done, dependsOn, indexByKey);
      const release = cycle.reduce((best, i) => (rank[i]! < rank[best]! ? i : best), cycle[0]!);
      cycles.push(cycle.map((i) => keys[i]!));
      indegree[release] = 0;
      heap.push(release);
    }
    const i = heap.pop()!;
    if (done[i]) continue;
    done[i] = 1;
    order.push({ object: objects[i]!, phase: phases[i]!, dependsOn: dependsOn[i]! });
    for (const d of dependents[i]!) {
      if (done[d]) continue;
      if (--indegree[d]! === 0) heap.push(d);
    }
  }
  return { order, cycles, external };
}

function compareTie(objects: readonly KubeObject[], phases: Phase[], keys: string[], a: number, b: number): number {
  const pa = PHASES.indexOf(phases[a]!);
  const pb = PHASES.indexOf(phases[b]!);
  if (pa !== pb) return pa - pb;
  const ka = KIND_RANK_INDEX.get(qualifiedKind(objects[a]!)) ?? KIND_RANK.length;
  const kb = KIND_RANK_INDEX.get(qualifiedKind(objects[b]!)) ?? KIND_RANK.length;
  if (ka !== kb) return ka - kb;
  const ma = objects[a]!.metadata;
  const mb = objects[b]!.metadata;
  return cmp(ma.namespace ?? "", mb.namespace ?? "") || cmp(keys[a]!, keys[b]!) || a - b;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A cycle among the objects not yet ordered (each of which waits on another such object). */
function findCycle(n: number, done: Uint8Array, dependsOn: DependencyRef[][], indexByKey: Map<string, number>): number[] {
  const state = new Uint8Array(n); // 0 new, 1 on stack, 2 finished
  for (let start = 0; start < n; start++) {
    if (done[start] || state[start]) continue;
    const stack: { node: number; next: number }[] = [{ node: start, next: 0 }];
    const path: number[] = [start];
    state[start] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const deps = dependsOn[top.node]!;
      if (top.next >= deps.length) {
        state[top.node] = 2;
        stack.pop();
        path.pop();
        continue;
      }
      const j = indexByKey.get(formatKey(deps[top.next++]!))!;
      if (done[j]) continue;
      if (state[j] === 1) return path.slice(path.indexOf(j));
      if (state[j] === 0) {
        state[j] = 1;
        stack.push({ node: j, next: 0 });
        path.push(j);
      }
    }
  }
  // Only reached if no cycle exists, which the caller rules out; stay total: release the first remaining object.
  const first = [...Array(n).keys()].find((i) => !done[i]);
  return first === undefined ? [] : [first];
}

class MinHeap {
  private items: number[] = [];
  constructor(private readonly less: (a: number, b: number) => number) {}
  get size(): number {
    return this.items.length;
  }
  push(v: number): void {
    const a = this.items;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.less(a[i]!, a[p]!) >= 0) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): number | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!) < 0) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!) < 0) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

