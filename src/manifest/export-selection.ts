// Which live objects an export leaves out by default: objects the target cluster makes itself.
// Rules as data, like the stripping rules; `--include-generated` turns them off.
import type { KubeObject } from "./object.js";
import { qualifiedKind } from "./object.js";

export interface SelectionRule {
  name: string;
  matches: (obj: KubeObject) => boolean;
  why: string;
}

const SYSTEM_NAMESPACES = new Set(["kube-system", "kube-public", "kube-node-lease"]);

export const GENERATED_OBJECT_RULES: readonly SelectionRule[] = [
  {
    name: "controller-owned",
    matches: (o) => Array.isArray(o.metadata.ownerReferences) && (o.metadata.ownerReferences as { controller?: boolean }[]).some((r) => r.controller === true),
    why: "ReplicaSets, Pods, Jobs, ControllerRevisions, EndpointSlices... are recreated by the controller that owns them.",
  },
  {
    name: "system-namespace",
    matches: (o) => SYSTEM_NAMESPACES.has(o.metadata.namespace ?? "") || (o.kind === "Namespace" && SYSTEM_NAMESPACES.has(o.metadata.name ?? "")),
    why: "kube-system, kube-public and kube-node-lease belong to the cluster, not to its applications.",
  },
  {
    name: "bootstrap-defaults",
    matches: (o) =>
      o.metadata.labels?.["kubernetes.io/bootstrapping"] === "rbac-defaults" ||
      o.metadata.annotations?.["apf.kubernetes.io/autoupdate-spec"] !== undefined ||
      o.metadata.labels?.["kube-aggregator.kubernetes.io/automanaged"] !== undefined ||
      (qualifiedKind(o) === "scheduling.k8s.io/PriorityClass" && (o.metadata.name ?? "").startsWith("system-")),
    why: "Default RBAC roles, API priority levels, automanaged APIServices and system PriorityClasses exist in every cluster.",
  },
  {
    name: "per-namespace-defaults",
    matches: (o) =>
      (o.kind === "ServiceAccount" && o.metadata.name === "default" && o.apiVersion === "v1") ||
      (o.kind === "ConfigMap" && o.metadata.name === "kube-root-ca.crt") ||
      (o.kind === "Namespace" && o.metadata.name === "default") ||
      (o.kind === "Service" && o.metadata.namespace === "default" && o.metadata.name === "kubernetes") ||
      (qualifiedKind(o) === "networking.k8s.io/ServiceCIDR" && o.metadata.name === "kubernetes"),
    why:
      "The default ServiceAccount, the root CA ConfigMap, the default namespace, the kubernetes Service and the " +
      "default ServiceCIDR are made by the cluster.",
  },
  {
    name: "selector-endpoints",
    matches: (o) => (o.kind === "Endpoints" || qualifiedKind(o) === "discovery.k8s.io/EndpointSlice") && o.metadata.labels?.["endpointslice.kubernetes.io/managed-by"] !== undefined,
    why: "Endpoints managed by a controller follow their Service's selector.",
  },
];

/** The rule that leaves an object out, if any. */
export function generatedBy(obj: KubeObject, rules: readonly SelectionRule[] = GENERATED_OBJECT_RULES): string | undefined {
  return rules.find((r) => r.matches(obj))?.name;
}

/** Resources that hold events, reviews and leases rather than desired state: never exported. */
export const NEVER_EXPORTED_RESOURCES = new Set([
  "events",
  "events.events.k8s.io",
  "leases.coordination.k8s.io",
  "componentstatuses",
  "bindings",
  "nodes",
  "nodes.metrics.k8s.io",
  "pods.metrics.k8s.io",
  "csinodes.storage.k8s.io",
  "volumeattachments.storage.k8s.io",
  "certificatesigningrequests.certificates.k8s.io",
  // Service IP allocations: the target allocates its own when the Services are created.
  "ipaddresses.networking.k8s.io",
]);
