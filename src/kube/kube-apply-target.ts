// The apiserver side of `twinsnap apply`: server-side apply with twinsnap as field manager, and readiness
// checks for what dependents wait on.
import type { KubeConfig, KubernetesObject, KubernetesObjectApi } from "@kubernetes/client-node";
import type { DependencyRef } from "../manifest/dependency-rule.js";
import type { KubeObject } from "../manifest/object.js";
import type { ApplyTarget } from "./ordered-apply.js";
import { describeApiError, isNotFound } from "./api-error.js";

export const FIELD_MANAGER = "twinsnap";

export class ApplyError extends Error {
  override readonly name = "ApplyError";
  constructor(
    readonly object: string,
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

export async function kubeApplyTarget(kc: KubeConfig): Promise<ApplyTarget> {
  const k8s = await import("@kubernetes/client-node");
  const objects: KubernetesObjectApi = k8s.KubernetesObjectApi.makeApiClient(kc);
  const asSpec = (obj: KubeObject) => obj as unknown as KubernetesObject;
  const header = (group: string, kind: string, namespace: string, name: string) => ({
    apiVersion: group === "" ? "v1" : `${group}/${versionFor(group)}`,
    kind,
    metadata: { name, ...(namespace ? { namespace } : {}) },
  });

  return {
    async current(obj) {
      try {
        const found = await objects.read(asSpec(obj) as never);
        return (found as KubernetesObject).metadata?.resourceVersion ?? "";
      } catch (err) {
        if (isNotFound(err)) return undefined;
        const f = describeApiError(err);
        throw new ApplyError(obj.metadata.name ?? "", f.status, f.message);
      }
    },
    async apply(obj, dryRun) {
      try {
        const res = await objects.patch(asSpec(obj), undefined, dryRun ? "All" : undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
        return res.metadata?.resourceVersion ?? "";
      } catch (err) {
        const f = describeApiError(err);
        throw new ApplyError(obj.metadata.name ?? "", f.status, f.message);
      }
    },
    async isReady(dep: DependencyRef) {
      try {
        const found = (await objects.read(header(dep.group, dep.kind, dep.namespace, dep.name) as never)) as KubeObject;
        return isReadyObject(found, dep);
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
  };
}

/** Readiness as the dependents need it; the same test answers Velero's AreAdditionalItemsReady. */
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

/** The version to read dependency kinds at (all dependency kinds are built-in, served at these versions). */
function versionFor(group: string): string {
  return group === "autoscaling" ? "v2" : "v1";
}
