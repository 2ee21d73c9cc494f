// The apiserver as the restore-order actions see it: discovery, existence (cached: one backup asks about the
// same ConfigMaps and ServiceAccounts many times) and readiness (never cached: Velero polls it).
import type { ClusterView } from "../actions/restore-order.js";
import type { ResourceIdentifier } from "../actions/action.js";
import type { Readiness } from "../manifest/dependency-rule.js";
import type { KubeObject } from "../manifest/object.js";
import { Discovery, objectPath } from "./discovery.js";
import type { RawClient } from "./raw-client.js";
import { isReadyObject } from "../manifest/readiness.js";

export function clusterView(client: RawClient, discovery = new Discovery(client)): ClusterView {
  const existence = new Map<string, Promise<boolean>>();
  const get = async (id: ResourceIdentifier): Promise<KubeObject | undefined> => {
    const r = await discovery.forResource(id.group, id.resource);
    if (!r) return undefined;
    return client.get<KubeObject>(objectPath(r, id.namespace, id.name));
  };
  return {
    async resourceFor(group, kind) {
      return (await discovery.forKind(group, kind))?.resource;
    },
    exists(id) {
      const key = `${id.group}/${id.resource}/${id.namespace}/${id.name}`;
      let known = existence.get(key);
      if (!known) {
        known = get(id).then((o) => o !== undefined);
        known.catch(() => existence.delete(key));
        existence.set(key, known);
      }
      return known;
    },
    async isReady(id, readiness: Readiness) {
      const obj = await get(id);
      if (!obj) return false;
      if (readiness !== "serving") return isReadyObject(obj, { readiness });
      return serviceHasReadyEndpoints(client, id.namespace, id.name);
    },
  };
}

/** A Service serves when an EndpointSlice (or, where slices are not mirrored, its Endpoints) lists a ready address. */
async function serviceHasReadyEndpoints(client: RawClient, namespace: string, name: string): Promise<boolean> {
  const ns = encodeURIComponent(namespace);
  const slices = await client.get<{ items: { endpoints?: { conditions?: { ready?: boolean } }[] }[] }>(
    `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${name}`)}`,
  );
  if (slices?.items.some((s) => (s.endpoints ?? []).some((e) => e.conditions?.ready !== false))) return true;
  const endpoints = await client.get<{ subsets?: { addresses?: unknown[] }[] }>(`/api/v1/namespaces/${ns}/endpoints/${encodeURIComponent(name)}`);
  return (endpoints?.subsets ?? []).some((s) => (s.addresses ?? []).length > 0);
}
