// Manifests as text: read YAML/JSON documents (and kind: List) into objects, write objects as YAML
// with the field order people expect (apiVersion, kind, metadata first).
import yaml from "js-yaml";
import { asKubeObject, isPlainObject, type KubeObject } from "./object.js";

export class ManifestParseError extends Error {
  override readonly name = "ManifestParseError";
  constructor(
    readonly source: string,
    readonly documentIndex: number,
    reason: string,
  ) {
    super(`${source}, document ${documentIndex + 1}: ${reason}`);
  }
}

/** Every object in a YAML or JSON text; `kind: List` and `*List` documents are expanded, empty documents skipped. */
export function parseManifests(text: string, source: string): KubeObject[] {
  let docs: unknown[];
  try {
    docs = yaml.loadAll(text);
  } catch (err) {
    throw new ManifestParseError(source, 0, `not valid YAML or JSON: ${(err as Error).message.split("\n")[0]}`);
  }
  const out: KubeObject[] = [];
  docs.forEach((doc, i) => {
    if (doc === null || doc === undefined) return;
    if (isPlainObject(doc) && typeof doc.kind === "string" && doc.kind.endsWith("List") && Array.isArray(doc.items)) {
      doc.items.forEach((item, j) => out.push(checked(item, source, i, `items[${j}]`)));
      return;
    }
    out.push(checked(doc, source, i));
  });
  return out;
}

function checked(value: unknown, source: string, index: number, at?: string): KubeObject {
  try {
    return asKubeObject(value);
  } catch (err) {
    throw new ManifestParseError(source, index, `${at ? `${at}: ` : ""}${(err as Error).message}`);
  }
}

const LEADING_KEYS = ["apiVersion", "kind", "metadata", "type", "spec", "data", "stringData", "binaryData"];
const LEADING_METADATA_KEYS = ["name", "namespace", "labels", "annotations"];

function leading(obj: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) if (key in obj) out[key] = obj[key];
  for (const key of Object.keys(obj)) if (!(key in out)) out[key] = obj[key];
  return out;
}

function ordered(obj: KubeObject): Record<string, unknown> {
  return leading({ ...obj, metadata: leading(obj.metadata, LEADING_METADATA_KEYS) }, LEADING_KEYS);
}

export function toYaml(obj: KubeObject): string {
  return yaml.dump(ordered(obj), { noRefs: true, lineWidth: -1, quotingType: '"' });
}

export function toYamlStream(objs: readonly KubeObject[]): string {
  return objs.map(toYaml).join("---\n");
}
