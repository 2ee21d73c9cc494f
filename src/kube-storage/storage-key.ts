// Where the apiserver keeps each resource in etcd: /registry/<resource>/[<namespace>/]<name>, with historical
// exceptions (k8s.io/kubernetes pkg/registry/*/storage: services live under services/specs, nodes under minions,
// ...), custom resources under /registry/<group>/<plural>, and a few keys that are no API object at all.

export const REGISTRY_PREFIX = "/registry/";

/** Storage prefixes that are not the resource's name, with the resource they hold. */
const RENAMED: readonly { prefix: string; resource: string; group: string; why: string }[] = [
  { prefix: "services/specs", resource: "services", group: "", why: "services share a prefix with their old endpoints" },
  { prefix: "services/endpoints", resource: "endpoints", group: "", why: "endpoints were stored beside their service" },
  { prefix: "minions", resource: "nodes", group: "", why: "nodes were once called minions" },
  { prefix: "controllers", resource: "replicationcontrollers", group: "", why: "the first name of replication controllers" },
  { prefix: "ingress", resource: "ingresses", group: "networking.k8s.io", why: "singular since extensions/v1beta1" },
  { prefix: "podsecuritypolicy", resource: "podsecuritypolicies", group: "policy", why: "singular; removed in 1.25 but may linger" },
  { prefix: "apiregistration.k8s.io/apiservices", resource: "apiservices", group: "apiregistration.k8s.io", why: "stored under its group" },
  { prefix: "apiextensions.k8s.io/customresourcedefinitions", resource: "customresourcedefinitions", group: "apiextensions.k8s.io", why: "stored under its group" },
];

/** Keys under /registry that hold apiserver bookkeeping, not API objects. */
const INTERNAL: readonly { prefix: string; what: string }[] = [
  { prefix: "ranges/", what: "allocated service IPs and node ports" },
  { prefix: "masterleases/", what: "apiserver endpoint leases" },
  { prefix: "apiserverleases/", what: "apiserver identity" },
  { prefix: "peerserverleases/", what: "apiserver peer-proxy leases (not served as a resource)" },
];

export type StorageKey =
  | {
      kind: "object";
      /** Resource (plural) as the API names it. */
      resource: string;
      /** The API group when the key says it (custom resources, renamed prefixes); else from the stored object. */
      group?: string;
      /** Path segments after the resource: [name] or [namespace, name]. */
      rest: string[];
    }
  | { kind: "internal"; what: string };

/** Reads an etcd key; undefined when it is not under /registry/. */
export function parseStorageKey(key: string): StorageKey | undefined {
  if (!key.startsWith(REGISTRY_PREFIX)) return undefined;
  const path = key.slice(REGISTRY_PREFIX.length);
  for (const internal of INTERNAL) if (path.startsWith(internal.prefix)) return { kind: "internal", what: internal.what };
  for (const r of RENAMED) {
    if (path.startsWith(`${r.prefix}/`)) return { kind: "object", resource: r.resource, group: r.group, rest: path.slice(r.prefix.length + 1).split("/") };
  }
  const segments = path.split("/");
  if (segments.length < 2) return { kind: "internal", what: "apiserver bookkeeping" };
  // A group has a dot; a built-in resource never does: /registry/<group>/<plural>/[ns/]name is a custom resource.
  if (segments[0]!.includes(".") && segments.length >= 3) return { kind: "object", group: segments[0]!, resource: segments[1]!, rest: segments.slice(2) };
  return { kind: "object", resource: segments[0]!, rest: segments.slice(1) };
}

/** "deployments.apps", "pods": the group-resource string Velero names resources by (and its tarball's directories). */
export function groupResource(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}
