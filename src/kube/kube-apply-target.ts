// The apiserver side of `twinsnap apply`: server-side apply (twinsnap as field manager) of the objects exactly
// as written — raw JSON, so no typed client can drop fields it does not model — and readiness checks.
import type { DependencyRef } from "../manifest/dependency-rule.js";
import { isReadyObject } from "../manifest/readiness.js";
import { groupOf, type KubeObject } from "../manifest/object.js";
import { stringifyJsonText } from "../manifest/json-text.js";
import { Discovery, objectPath, type ApiResource } from "./discovery.js";
import type { ApplyTarget } from "./ordered-apply.js";
import type { RawClient } from "./raw-client.js";

export const FIELD_MANAGER = "twinsnap";

export class UnknownKindError extends Error {
  override readonly name = "UnknownKindError";
  constructor(readonly apiVersion: string, readonly kind: string) {
    super(`the cluster does not serve ${kind} in ${apiVersion} (is its CRD installed, or the API enabled?)`);
  }
}

export function kubeApplyTarget(client: RawClient, discovery = new Discovery(client)): ApplyTarget {
  const resourceOf = async (obj: KubeObject): Promise<ApiResource> => {
    const group = groupOf(obj.apiVersion);
    let r = await discovery.forKind(group, obj.kind);
    if (!r) {
      // Discovery is cached: a CRD created by this apply is only seen after a refresh.
      discovery.refresh();
      r = await discovery.forKind(group, obj.kind);
    }
    if (!r) throw new UnknownKindError(obj.apiVersion, obj.kind);
    // Write at the version the manifest names, which may differ from the preferred one.
    return { ...r, version: obj.apiVersion.includes("/") ? obj.apiVersion.split("/")[1]! : obj.apiVersion };
  };
  const namespaceOf = (obj: KubeObject, r: ApiResource) => (r.namespaced ? (obj.metadata.namespace ?? "default") : "");

  return {
    async current(obj) {
      const r = await resourceOf(obj);
      const found = await client.get<KubeObject>(objectPath(r, namespaceOf(obj, r), obj.metadata.name ?? ""));
      return found ? contentOf(found) : undefined;
    },
    async apply(obj, dryRun) {
      const r = await resourceOf(obj);
      const ns = namespaceOf(obj, r);
      const body = r.namespaced && !obj.metadata.namespace ? { ...obj, metadata: { ...obj.metadata, namespace: ns } } : obj;
      const query = new URLSearchParams({ fieldManager: FIELD_MANAGER, force: "true", ...(dryRun ? { dryRun: "All" } : {}) });
      const res = await client.send<KubeObject>("PATCH", `${objectPath(r, ns, obj.metadata.name ?? "")}?${query}`, body, "application/apply-patch+yaml");
      return contentOf(res);
    },
    async isReady(dep: DependencyRef) {
      const r = await discovery.forKind(dep.group, dep.kind);
      if (!r) return false;
      const found = await client.get<KubeObject>(objectPath(r, dep.namespace, dep.name));
      return found !== undefined && isReadyObject(found, dep);
    },
  };
}

/**
 * What an object holds, for telling "configured" from "unchanged": some kinds (PersistentVolumeClaims) get a
 * new resourceVersion on an apply that changes nothing, so the version alone would over-report changes.
 */
function contentOf(obj: KubeObject): string {
  const { resourceVersion: _rv, managedFields: _mf, ...meta } = obj.metadata;
  return stringifyJsonText({ ...obj, metadata: meta });
}
