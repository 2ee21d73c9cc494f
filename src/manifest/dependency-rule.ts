// The shape of a dependency rule: what an object needs to exist (and be ready) before it is created.
import type { KubeObject } from "./object.js";

/** What "ready" means for a dependency before its dependents are created. */
export type Readiness =
  | "exists" // created is enough (a ConfigMap, a ServiceAccount)
  | "established" // a CustomResourceDefinition whose Established condition is True
  | "active" // a Namespace in phase Active (not Terminating)
  | "serving"; // a Service behind a webhook or APIService (has ready endpoints)

export interface DependencyRef {
  group: string;
  kind: string;
  /** "" for cluster-scoped dependencies. */
  namespace: string;
  name: string;
  readiness: Readiness;
}

/** What rules may consult besides the object itself: the other objects being restored. */
export interface DependencyContext {
  /** The CRD that defines group/kind, if one is among the objects. */
  crdFor(group: string, kind: string): KubeObject | undefined;
}

export interface DependencyRule {
  readonly name: string;
  /** Qualified kinds ("apps/Deployment") or "*" for every kind. */
  readonly kinds: "*" | readonly string[];
  readonly needs: (obj: KubeObject, ctx: DependencyContext) => DependencyRef[];
  readonly why: string;
  readonly origin?: "builtin" | "config";
}
