// Plain Kubernetes objects as they travel through Velero, the CLI and the apiserver: JSON data.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

/** "apps/v1" -> "apps"; "v1" -> "" (the core group). */
export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? "" : apiVersion.slice(0, slash);
}

/** A kind qualified by its group, the way rule tables name kinds: "Service", "apps/Deployment", "example.com/Widget". */
export function qualifiedKind(obj: Pick<KubeObject, "apiVersion" | "kind">): string {
  const group = groupOf(obj.apiVersion);
  return group === "" ? obj.kind : `${group}/${obj.kind}`;
}

/** "namespace/name" or "name" for cluster-scoped objects: how messages name an object. */
export function objectRef(obj: KubeObject): string {
  const { namespace, name } = obj.metadata;
  return `${qualifiedKind(obj)} ${namespace ? `${namespace}/` : ""}${name ?? "<unnamed>"}`;
}

export class InvalidObjectError extends Error {
  override readonly name = "InvalidObjectError";
  constructor(readonly reason: string) {
    super(`not a Kubernetes object: ${reason}`);
  }
}

/** Checks the shape every rule relies on; anything else is rejected before a rule touches it. */
export function asKubeObject(value: unknown): KubeObject {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new InvalidObjectError(`expected a JSON object, got ${value === null ? "null" : Array.isArray(value) ? "an array" : typeof value}`);
  }
  const obj = value as Record<string, unknown>;
  if (typeof obj.apiVersion !== "string" || obj.apiVersion === "") throw new InvalidObjectError("apiVersion is missing");
  if (typeof obj.kind !== "string" || obj.kind === "") throw new InvalidObjectError("kind is missing");
  if (obj.metadata === null || typeof obj.metadata !== "object" || Array.isArray(obj.metadata)) {
    throw new InvalidObjectError(`metadata is missing in ${obj.kind}`);
  }
  return value as KubeObject;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
