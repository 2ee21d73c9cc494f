// Creating and patching one object through the apiserver, addressed by its own apiVersion and Velero's resource
// name (what an item operation knows): the apiserver side of actions/restored-last.ts.
import type { ObjectWriter } from "../actions/restored-last.js";
import { groupOf, type KubeObject } from "../manifest/object.js";
import { objectPath } from "./discovery.js";
import { ApiRequestError, type RawClient } from "./raw-client.js";

function location(obj: KubeObject, resource: string) {
  const group = groupOf(obj.apiVersion);
  const version = obj.apiVersion.slice(obj.apiVersion.indexOf("/") + 1);
  return { group, version, resource, namespaced: Boolean(obj.metadata.namespace) };
}

export function objectWriter(client: RawClient): ObjectWriter {
  return {
    get: (obj, resource) => client.get<KubeObject>(objectPath(location(obj, resource), obj.metadata.namespace ?? "", obj.metadata.name ?? "")),
    async create(obj, resource) {
      try {
        return await client.send<KubeObject>("POST", objectPath(location(obj, resource), obj.metadata.namespace ?? ""), obj);
      } catch (err) {
        if (err instanceof ApiRequestError && err.status === 409) return undefined;
        throw err;
      }
    },
    mergePatch: (obj, resource, patch) =>
      client.send<KubeObject>("PATCH", objectPath(location(obj, resource), obj.metadata.namespace ?? "", obj.metadata.name ?? ""), patch, "application/merge-patch+json"),
  };
}
