// Naming objects independently of API version: the identity the dependency graph and restore order use.
import { groupOf, type KubeObject } from "./object.js";

export interface ObjectKey {
  group: string;
  kind: string;
  /** "" for cluster-scoped objects. */
  namespace: string;
  name: string;
}

export function keyOf(obj: KubeObject): ObjectKey {
  return { group: groupOf(obj.apiVersion), kind: obj.kind, namespace: obj.metadata.namespace ?? "", name: obj.metadata.name ?? "" };
}

/** "apps/Deployment shop/web", "Namespace shop": stable, readable, unique per object. */
export function formatKey(k: ObjectKey): string {
  const kind = k.group ? `${k.group}/${k.kind}` : k.kind;
  return `${kind} ${k.namespace ? `${k.namespace}/` : ""}${k.name}`;
}
