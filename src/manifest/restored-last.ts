// Kinds restored after every other object: admission (webhooks, admission policies) and aggregated APIs.
// One table for `twinsnap apply` (the last phase of its order) and for the plugin inside Velero (these items are
// deferred to an asynchronous operation that creates them once Velero has restored everything else).
import { groupOf, type KubeObject } from "./object.js";

export interface RestoredLastKind {
  group: string;
  kind: string;
  /** Velero's resource name (plural), as in the ResourceIdentifier of an item operation. */
  resource: string;
  why: string;
}

const WEBHOOK_WHY =
  "Its backend is rarely up while a restore runs (its Pods are restored with everything else): with failurePolicy " +
  "Fail every create it intercepts is refused, the restore's own creates included.";

export const RESTORED_LAST: readonly RestoredLastKind[] = [
  { group: "admissionregistration.k8s.io", kind: "ValidatingWebhookConfiguration", resource: "validatingwebhookconfigurations", why: WEBHOOK_WHY },
  { group: "admissionregistration.k8s.io", kind: "MutatingWebhookConfiguration", resource: "mutatingwebhookconfigurations", why: WEBHOOK_WHY },
  {
    group: "admissionregistration.k8s.io",
    kind: "ValidatingAdmissionPolicy",
    resource: "validatingadmissionpolicies",
    why: "A policy judges objects that existed before it in the source cluster; restored first, it refuses some of them.",
  },
  {
    group: "admissionregistration.k8s.io",
    kind: "ValidatingAdmissionPolicyBinding",
    resource: "validatingadmissionpolicybindings",
    why: "A binding whose parameter object is not restored yet denies every request it matches (parameterNotFoundAction: Deny).",
  },
  {
    group: "admissionregistration.k8s.io",
    kind: "MutatingAdmissionPolicy",
    resource: "mutatingadmissionpolicies",
    why: "A policy changes objects that existed before it in the source cluster; restored first, it rewrites them.",
  },
  {
    group: "admissionregistration.k8s.io",
    kind: "MutatingAdmissionPolicyBinding",
    resource: "mutatingadmissionpolicybindings",
    why: "A binding whose parameter object is not restored yet denies every request it matches (parameterNotFoundAction: Deny).",
  },
  {
    group: "apiregistration.k8s.io",
    kind: "APIService",
    resource: "apiservices",
    why: "An aggregated API whose backend is not serving breaks discovery for every client (Velero's restore included) and fails its group's requests.",
  },
];

const BY_KIND = new Map(RESTORED_LAST.map((k) => [`${k.group}/${k.kind}`, k]));

/** The row of the table for this object, or undefined if it is restored in the usual order. */
export function restoredLast(obj: Pick<KubeObject, "apiVersion" | "kind">): RestoredLastKind | undefined {
  return BY_KIND.get(`${groupOf(obj.apiVersion)}/${obj.kind}`);
}
