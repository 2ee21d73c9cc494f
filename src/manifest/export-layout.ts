// Where each object goes in an export tree: readable, one file per object, the same path for the same object.
//   cluster/<resource>/<name>.yaml
//   namespaces/<namespace>/<resource>/<name>.yaml
import type { KubeObject } from "./object.js";

export function exportPath(groupResource: string, obj: KubeObject): string {
  const name = obj.metadata.name ?? "";
  if (name === "" || name.includes("/") || name === "." || name === "..") throw new Error(`cannot export an object named ${JSON.stringify(name)}`);
  const ns = obj.metadata.namespace;
  return ns ? `namespaces/${ns}/${groupResource}/${name}.yaml` : `cluster/${groupResource}/${name}.yaml`;
}
