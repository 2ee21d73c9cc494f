// The objects a user made in the corpus, read from a cluster, and what each should look like after a
// Velero restore with twinsnap: the source object through twinsnap's backup rules, then its restore rules
// (the real rule table, src/manifest/strip-rules.ts), compared with what the target cluster holds.
import { DEFAULT_RULES } from "../../../src/manifest/rules-config.js";
import { stripObject } from "../../../src/manifest/strip.js";
import { isPlainObject, qualifiedKind, type KubeObject } from "../../../src/manifest/object.js";
import type { E2eCluster } from "./cluster.js";

const NAMESPACED = [
  "configmaps", "secrets", "serviceaccounts", "services", "persistentvolumeclaims", "pods", "deployments.apps", "statefulsets.apps",
  "daemonsets.apps", "jobs.batch", "cronjobs.batch", "ingresses.networking.k8s.io", "networkpolicies.networking.k8s.io",
  "roles.rbac.authorization.k8s.io", "rolebindings.rbac.authorization.k8s.io", "poddisruptionbudgets.policy",
  "horizontalpodautoscalers.autoscaling", "endpointslices.discovery.k8s.io", "widgets.example.com", "databases.platform.example.com",
];
const CLUSTER = [
  "namespaces", "persistentvolumes", "storageclasses.storage.k8s.io", "priorityclasses.scheduling.k8s.io", "ingressclasses.networking.k8s.io",
  "clusterroles.rbac.authorization.k8s.io", "clusterrolebindings.rbac.authorization.k8s.io", "customresourcedefinitions.apiextensions.k8s.io",
  "gadgets.example.com", "instanceclasses.platform.example.com", "runtimeclasses.node.k8s.io",
  "validatingwebhookconfigurations.admissionregistration.k8s.io", "mutatingwebhookconfigurations.admissionregistration.k8s.io",
];

export const keyOf = (o: KubeObject) => `${qualifiedKind(o)} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata.name}`;

/**
 * The corpus as the user made it: everything in its namespaces and its cluster-scoped objects, without what
 * controllers made (ownerReferences), what each cluster publishes itself (kube-root-ca.crt) and the cluster's
 * own defaults (bootstrap RBAC, system priority classes, other CRDs).
 */
export async function corpusObjects(cluster: E2eCluster, namespaces: readonly string[]): Promise<KubeObject[]> {
  const ns = new Set(namespaces);
  const list = async (types: string[], all: boolean) =>
    ((await cluster.getJson([types.join(","), ...(all ? ["-A"] : [])])).items as KubeObject[]);
  const namespaced = (await list(NAMESPACED, true)).filter(
    (o) => ns.has(o.metadata.namespace ?? "") && !(o.metadata.ownerReferences as unknown[] | undefined)?.length && o.metadata.name !== "kube-root-ca.crt",
  );
  const cluster_ = (await list(CLUSTER, false)).filter((o) => {
    const name = o.metadata.name ?? "";
    switch (o.kind) {
      case "Namespace":
        return ns.has(name);
      case "ClusterRole":
      case "ClusterRoleBinding":
        return o.metadata.labels?.["kubernetes.io/bootstrapping"] === undefined && !name.startsWith("system:");
      case "PriorityClass":
        return !name.startsWith("system-");
      case "CustomResourceDefinition":
        return name.endsWith("example.com");
      default:
        return true;
    }
  });
  return [...cluster_, ...namespaced];
}

/** What twinsnap hands Velero to create for `source` (backup rules, then restore rules); undefined if skipped. */
export function expectedAfterRestore(source: KubeObject): KubeObject | undefined {
  const backedUp = stripObject(source, DEFAULT_RULES.strip, { stage: "backup" }).object;
  const restored = stripObject(backedUp, DEFAULT_RULES.strip, { stage: "restore", itemFromBackup: backedUp, restore: {} });
  return restored.skippedBy ? undefined : restored.object;
}

/**
 * Differences between what should have been restored and what the target holds: every field the user's object
 * has (all but metadata and status; of metadata its name, labels and annotations) must be there with the same
 * value. The target may add fields (defaults, what its controllers allocate: clusterIPs, nodePorts, generated
 * Job selectors, the Pod's token volume, Velero's restore labels).
 */
export function restoreDifferences(expected: KubeObject, actual: KubeObject): string[] {
  const pick = (o: KubeObject) => {
    const { apiVersion: _a, kind: _k, metadata, status: _s, ...rest } = o;
    return { metadata: { name: metadata.name, namespace: metadata.namespace, labels: metadata.labels, annotations: metadata.annotations }, ...rest };
  };
  const target = pick(withoutTokenVolumes(actual));
  const out: string[] = [];
  subsetDiff(pick(expected), target, "", out);
  return out;
}

/** The projected service-account token volume admission adds to every Pod (a fresh random name per cluster). */
function withoutTokenVolumes(obj: KubeObject): KubeObject {
  if (obj.kind !== "Pod" || !isPlainObject(obj.spec)) return obj;
  const copy = structuredClone(obj);
  const spec = copy.spec as Record<string, any>;
  const isToken = (name: unknown) => typeof name === "string" && name.startsWith("kube-api-access-");
  spec.volumes = (spec.volumes ?? []).filter((v: any) => !isToken(v?.name));
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    if (Array.isArray(c.volumeMounts)) c.volumeMounts = c.volumeMounts.filter((m: any) => !isToken(m?.name));
  }
  return copy;
}

function subsetDiff(expected: unknown, actual: unknown, path: string, out: string[]): void {
  if (expected === undefined) return;
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) {
      out.push(`${path}: expected ${JSON.stringify(expected)}, found ${JSON.stringify(actual)}`);
      return;
    }
    expected.forEach((e, i) => subsetDiff(e, actual[i], `${path}[${i}]`, out));
    return;
  }
  if (isPlainObject(expected)) {
    if (!isPlainObject(actual)) {
      out.push(`${path}: expected an object, found ${JSON.stringify(actual)}`);
      return;
    }
    for (const [k, v] of Object.entries(expected)) subsetDiff(v, actual[k], path ? `${path}.${k}` : k, out);
    return;
  }
  if (expected !== actual) out.push(`${path}: expected ${JSON.stringify(expected)}, found ${JSON.stringify(actual)}`);
}
