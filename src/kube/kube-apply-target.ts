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
/** Objects of one kind in one namespace from which a LIST replaces their GETs. */
const PREFETCH_MIN_OBJECTS = 4;

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
  // What prefetch listed: per "group/resource/namespace", the content of the objects to apply that exist.
  const listed = new Map<string, Map<string, string>>();
  const groupKey = (r: ApiResource, ns: string) => `${r.group}/${r.resource}/${ns}`;

  return {
    async prefetch(objects) {
      const groups = new Map<string, { r: ApiResource; ns: string; names: Set<string> }>();
      for (const obj of objects) {
        const group = groupOf(obj.apiVersion);
        const found = await discovery.forKind(group, obj.kind); // no refresh: kinds a CRD of this apply adds are read one by one
        if (!found || !found.verbs.includes("list")) continue;
        const r = { ...found, version: obj.apiVersion.includes("/") ? obj.apiVersion.split("/")[1]! : obj.apiVersion };
        const ns = namespaceOf(obj, r);
        const k = groupKey(r, ns);
        const g = groups.get(k) ?? { r, ns, names: new Set<string>() };
        g.names.add(obj.metadata.name ?? "");
        groups.set(k, g);
      }
      const list = async (k: string, g: { r: ApiResource; ns: string; names: Set<string> }) => {
        const contents = new Map<string, string>();
        let token: string | undefined;
        do {
          const query = new URLSearchParams({ limit: "500", ...(token ? { continue: token } : {}) });
          const page = await client.get<{ items?: KubeObject[]; metadata?: { continue?: string } }>(`${objectPath(g.r, g.ns)}?${query}`);
          for (const item of page?.items ?? []) {
            const name = item.metadata?.name ?? "";
            // A list's items lack kind and apiVersion; contentOf must match what a GET of the object gives.
            if (g.names.has(name)) contents.set(name, contentOf({ ...item, apiVersion: g.r.group ? `${g.r.group}/${g.r.version}` : g.r.version, kind: g.r.kind }));
          }
          token = page?.metadata?.continue || undefined;
        } while (token);
        listed.set(k, contents);
      };
      // The namespaces first, with one LIST however few: nothing can exist yet in a namespace this apply creates,
      // so its objects need no LIST or GET at all (a restore into a fresh cluster is mostly that).
      const namespaces = [...groups].find(([, g]) => g.r.group === "" && g.r.kind === "Namespace");
      const created = new Set<string>();
      if (namespaces) {
        try {
          await list(...namespaces);
          const existing = listed.get(namespaces[0])!;
          for (const name of namespaces[1].names) if (!existing.has(name)) created.add(name);
        } catch {
          // May get but not list namespaces (RBAC): no shortcut, each object is looked up as before.
        }
      }
      for (const [k, g] of groups) if (g.ns !== "" && created.has(g.ns)) listed.set(k, new Map());
      // Listing pays off only for several objects of a kind in a namespace (a namespace may hold thousands of
      // Pods when a few are applied): fewer than that are read one by one.
      const worth = [...groups].filter(([k, g]) => !listed.has(k) && g.names.size >= PREFETCH_MIN_OBJECTS);
      let next = 0;
      const lister = async () => {
        for (let i = next++; i < worth.length; i = next++) await list(...worth[i]!);
      };
      await Promise.all(Array.from({ length: Math.min(4, worth.length) }, lister));
    },
    async current(obj) {
      const r = await resourceOf(obj);
      const ns = namespaceOf(obj, r);
      const known = listed.get(groupKey(r, ns));
      if (known) return known.get(obj.metadata.name ?? "");
      const found = await client.get<KubeObject>(objectPath(r, ns, obj.metadata.name ?? ""));
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
      if (found === undefined || !isReadyObject(found, dep)) return false;
      // The apiserver marks a CRD Established a moment before discovery lists its kind; custom resources applied
      // in that moment would be refused as of an unknown kind.
      const served = servedKind(found);
      if (dep.readiness !== "established" || !served) return true;
      if (await discovery.forKind(served.group, served.kind)) return true;
      discovery.refresh();
      return (await discovery.forKind(served.group, served.kind)) !== undefined;
    },
  };
}

/** The group and kind a CustomResourceDefinition serves. */
function servedKind(obj: KubeObject): { group: string; kind: string } | undefined {
  if (obj.kind !== "CustomResourceDefinition") return undefined;
  const spec = obj.spec as { group?: string; names?: { kind?: string } } | undefined;
  return spec?.group && spec.names?.kind ? { group: spec.group, kind: spec.names.kind } : undefined;
}

/**
 * What an object holds, for telling "configured" from "unchanged": some kinds (PersistentVolumeClaims) get a
 * new resourceVersion on an apply that changes nothing, so the version alone would over-report changes.
 */
function contentOf(obj: KubeObject): string {
  const { resourceVersion: _rv, managedFields: _mf, ...meta } = obj.metadata;
  // kind and apiVersion first whatever the source: a LIST's items lack them, a GET or PATCH answer starts with them.
  return stringifyJsonText(Object.assign({ kind: obj.kind, apiVersion: obj.apiVersion }, obj, { metadata: meta }));
}
