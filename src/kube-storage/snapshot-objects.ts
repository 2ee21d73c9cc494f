// The Kubernetes objects of an etcd snapshot: each live /registry key, named by resource, namespace and name, with
// its decoded (or encrypted, or undecodable) value.
import type { SnapshotReader } from "../etcd/snapshot-keys.js";
import { groupOf } from "../manifest/object.js";
import type { LocalKeys } from "./encryption.js";
import { groupResource, parseStorageKey, REGISTRY_PREFIX } from "./storage-key.js";
import { decodeStoredValue, type StoredValue } from "./stored-value.js";

/** Groups of built-in resources, for values that cannot be decoded (encrypted without a key) and so do not say. */
const BUILTIN_GROUPS: Record<string, string> = {
  deployments: "apps", replicasets: "apps", statefulsets: "apps", daemonsets: "apps", controllerrevisions: "apps",
  jobs: "batch", cronjobs: "batch", horizontalpodautoscalers: "autoscaling", leases: "coordination.k8s.io",
  roles: "rbac.authorization.k8s.io", rolebindings: "rbac.authorization.k8s.io", clusterroles: "rbac.authorization.k8s.io",
  clusterrolebindings: "rbac.authorization.k8s.io", networkpolicies: "networking.k8s.io", ingressclasses: "networking.k8s.io",
  poddisruptionbudgets: "policy", priorityclasses: "scheduling.k8s.io", storageclasses: "storage.k8s.io",
  csidrivers: "storage.k8s.io", csinodes: "storage.k8s.io", volumeattachments: "storage.k8s.io", endpointslices: "discovery.k8s.io",
  mutatingwebhookconfigurations: "admissionregistration.k8s.io", validatingwebhookconfigurations: "admissionregistration.k8s.io",
  flowschemas: "flowcontrol.apiserver.k8s.io", prioritylevelconfigurations: "flowcontrol.apiserver.k8s.io",
  certificatesigningrequests: "certificates.k8s.io", runtimeclasses: "node.k8s.io",
};

export interface SnapshotObject {
  etcdKey: string;
  resource: string;
  group: string;
  /** "deployments.apps", as Velero names it. */
  groupResource: string;
  /** "" for cluster-scoped objects. */
  namespace: string;
  name: string;
  modRevision: number;
  value: StoredValue;
}

export interface SnapshotObjectsOptions {
  keys?: LocalKeys;
  /** Decode only keys this accepts (cheap pre-filter on the etcd key). */
  keyFilter?: (etcdKey: string) => boolean;
}

/** Every object under /registry/ at the snapshot's revision; apiserver bookkeeping keys are counted in `internal`. */
export async function* snapshotObjects(reader: SnapshotReader, opts: SnapshotObjectsOptions = {}): AsyncGenerator<SnapshotObject | { internal: string; etcdKey: string }> {
  for await (const kv of reader.latest({ prefix: REGISTRY_PREFIX })) {
    if (opts.keyFilter && !opts.keyFilter(kv.key)) continue;
    const key = parseStorageKey(kv.key);
    if (!key) continue;
    if (key.kind === "internal") {
      yield { internal: key.what, etcdKey: kv.key };
      continue;
    }
    const value = decodeStoredValue(kv.key, kv.value, opts.keys ? { keys: opts.keys } : {});
    const meta = value.state === "object" ? value.object.metadata : undefined;
    const fromKey = key.rest.length >= 2 ? { namespace: key.rest[0]!, name: key.rest.slice(1).join("/") } : { namespace: "", name: key.rest[0] ?? "" };
    const namespace = typeof meta?.namespace === "string" ? meta.namespace : meta ? "" : fromKey.namespace;
    const name = typeof meta?.name === "string" ? meta.name : fromKey.name;
    const group = key.group ?? (value.state === "object" ? groupOf(value.object.apiVersion) : (BUILTIN_GROUPS[key.resource] ?? ""));
    yield { etcdKey: kv.key, resource: key.resource, group, groupResource: groupResource(key.resource, group), namespace, name, modRevision: kv.modRevision, value };
  }
}
