// When a dependency counts as ready for its dependents: one test for `twinsnap apply` and for Velero's
// AreAdditionalItemsReady.
import type { DependencyRef } from "./dependency-rule.js";
import type { KubeObject } from "./object.js";

export function isReadyObject(obj: KubeObject, dep: Pick<DependencyRef, "readiness">): boolean {
  switch (dep.readiness) {
    case "established": {
      const conditions = (obj.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
      return conditions.some((c) => c.type === "Established" && c.status === "True");
    }
    case "active":
      return (obj.status as { phase?: string } | undefined)?.phase !== "Terminating";
    default:
      return true;
  }
}
