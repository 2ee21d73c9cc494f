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

/** A JSON object (a mapping): not an array, and not a kept number (json-text.ts) or any other class instance. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A deep copy of JSON data that keeps kept numbers (json-text.ts) as they are: structuredClone would turn them
 * into plain objects. Iterative, so a deeply nested item cannot exhaust the stack.
 */
export function cloneJson<T>(value: T): T {
  if (value === null || typeof value !== "object") return value;
  const root: unknown = Array.isArray(value) ? new Array(value.length) : isPlainObject(value) ? {} : value;
  if (root === value) return value;
  const work: [unknown, unknown][] = [[value, root]];
  while (work.length > 0) {
    const [from, to] = work.pop()!;
    const copy = (v: unknown): unknown => {
      if (v === null || typeof v !== "object") return v;
      const c = Array.isArray(v) ? new Array(v.length) : isPlainObject(v) ? {} : v;
      if (c !== v) work.push([v, c]);
      return c;
    };
    if (Array.isArray(from)) from.forEach((el, i) => ((to as unknown[])[i] = copy(el)));
    else for (const key of Object.keys(from as object)) defineOwn(to as Record<string, unknown>, key, copy((from as Record<string, unknown>)[key]));
  }
  return root as T;
}

/** Sets an own property even for the key "__proto__" (a plain assignment would change the prototype). */
function defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}
