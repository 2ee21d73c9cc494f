// Benchmark: dependency-first ordering of 100k synthetic objects, beside a plain sort of the same objects by
// phase and kind (what an order without dependencies costs), measured in the same run.
import { phaseOf, PHASES, restoreOrder } from "../src/manifest/restore-order.js";
import { qualifiedKind } from "../src/manifest/object.js";
import { syntheticObjects } from "./synthetic.js";

export async function benchRestoreOrder(count = 100_000) {
  const objects = syntheticObjects(count);
  const shuffled = [...objects].sort((a, b) => ((a.metadata.name ?? "") < (b.metadata.name ?? "") ? 1 : -1));
  const time = (fn: () => unknown) => {
    const t = process.hrtime.bigint();
    fn();
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  const runs = 3;
  const ordered: number[] = [];
  const sorted: number[] = [];
  let result = restoreOrder(shuffled);
  for (let i = 0; i < runs; i++) {
    sorted.push(time(() => [...shuffled].sort((a, b) => PHASES.indexOf(phaseOf(a)) - PHASES.indexOf(phaseOf(b)) || qualifiedKind(a).localeCompare(qualifiedKind(b)) || (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""))));
    ordered.push(time(() => (result = restoreOrder(shuffled))));
  }
  const best = (xs: number[]) => Math.round(Math.min(...xs));
  const edges = result.order.reduce((n, o) => n + o.dependsOn.length, 0);
  return {
    name: "restore-order",
    objects: count,
    dependencyEdges: edges,
    cycles: result.cycles.length,
    restoreOrderMs: best(ordered),
    plainSortMs: best(sorted),
    ratioToPlainSort: Math.round((best(ordered) / best(sorted)) * 100) / 100,
    objectsPerSecond: Math.round(count / (best(ordered) / 1000)),
    heapUsedMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
  };
}
