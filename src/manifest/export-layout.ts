// Where each object goes in an export tree: readable, one file per object, the same path for the same object.
//   cluster/<resource>/<name>.yaml
//   namespaces/<namespace>/<resource>/<name>.yaml
// Names come from backups and clusters, which a user does not control: each part is checked against the syntax
// Kubernetes allows before it becomes a path, so no object can name a file outside the tree.
import type { KubeObject } from "./object.js";

export class UnsafeObjectNameError extends Error {
  override readonly name = "UnsafeObjectNameError";
  constructor(
    readonly part: "namespace" | "name" | "resource",
    readonly value: string,
    reason: string,
  ) {
    super(`${part} ${JSON.stringify(value)} ${reason}`);
  }
}

/** A namespace is a DNS-1123 label (Kubernetes' ValidateNamespaceName). */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A resource as Velero names its directories: "deployments.apps", "widgets.example.com". */
const RESOURCE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Why a value cannot be a namespace, or undefined when it can. */
export function namespaceProblem(ns: string): string | undefined {
  if (ns.length > 63) return "is longer than 63 characters";
  return NAMESPACE.test(ns) ? undefined : "is not a Kubernetes namespace name (lowercase letters, digits, '-')";
}

/**
 * Why a value cannot be an object's name, or undefined. Kubernetes requires every name to be a valid path segment
 * (not "." or "..", no "/" or "%"); most kinds are stricter, some (RBAC) allow ":". Control characters and
 * names too long for a file are refused as well.
 */
export function objectNameProblem(name: string): string | undefined {
  if (name === "" || name === "." || name === "..") return "is not a name";
  if (/[/%\\]/.test(name)) return "contains '/', '\\' or '%'";
  if (/[\u0000-\u001f\u007f]/.test(name)) return "contains a control character";
  if (Buffer.byteLength(name) > 250) return "is longer than 250 bytes (it could not be a file name)";
  return undefined;
}

export function resourceProblem(resource: string): string | undefined {
  return RESOURCE.test(resource) && !resource.includes("..") && resource.length <= 253 ? undefined : "is not a resource name";
}

export function exportPath(groupResource: string, obj: KubeObject): string {
  const name = typeof obj.metadata.name === "string" ? obj.metadata.name : "";
  const ns = obj.metadata.namespace;
  const check = (part: "namespace" | "name" | "resource", value: string, problem: string | undefined) => {
    if (problem) throw new UnsafeObjectNameError(part, value, problem);
  };
  check("resource", groupResource, resourceProblem(groupResource));
  check("name", name, objectNameProblem(name));
  if (ns !== undefined && ns !== "") {
    if (typeof ns !== "string") throw new UnsafeObjectNameError("namespace", String(typeof ns), "is not a string");
    check("namespace", ns, namespaceProblem(ns));
  }
  return ns ? `namespaces/${ns}/${groupResource}/${name}.yaml` : `cluster/${groupResource}/${name}.yaml`;
}
