// Manifests as text: read YAML/JSON documents (and kind: List) into objects, write objects as YAML
// with the field order people expect (apiVersion, kind, metadata first).
import yaml from "js-yaml";
import { isLosslessNumber, LosslessNumber } from "./json-text.js";
import { asKubeObject, isPlainObject, type KubeObject } from "./object.js";

/**
 * How YAML is read: js-yaml's default schema without the timestamp type (an unquoted `2024-01-01` is the string
 * Kubernetes stores, not a Date that comes back as `2024-01-01T00:00:00.000Z`), and with numbers kept as written
 * where JavaScript would print them differently (json-text.ts): `9223372036854775807`, `1.0`.
 */
// js-yaml exports its built-in types at run time; @types/js-yaml does not declare them.
const TYPES = (yaml as unknown as { types: Record<"null" | "bool" | "int" | "float" | "merge" | "binary" | "omap" | "pairs" | "set", yaml.Type> }).types;
const INT = TYPES.int;
const FLOAT = TYPES.float;
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

function keptNumber(text: string, n: number): number | LosslessNumber {
  const plain = text.startsWith("+") ? text.slice(1) : text;
  return JSON_NUMBER.test(plain) && String(n) !== plain ? new LosslessNumber(plain) : n;
}

const losslessInt = new yaml.Type("tag:yaml.org,2002:int", {
  kind: "scalar",
  resolve: INT.resolve,
  construct: (data: string) => keptNumber(data, INT.construct(data) as number),
  predicate: INT.predicate!,
  represent: INT.represent!,
  defaultStyle: INT.defaultStyle!,
});

const losslessFloat = new yaml.Type("tag:yaml.org,2002:float", {
  kind: "scalar",
  resolve: FLOAT.resolve,
  construct: (data: string) => keptNumber(data, FLOAT.construct(data) as number),
  predicate: FLOAT.predicate!,
  represent: FLOAT.represent!,
  defaultStyle: FLOAT.defaultStyle!,
});

/** Writes a kept number as its own text, unquoted (an implicit type's result is written as is). */
const keptNumberType = new yaml.Type("tag:twinsnap.dev,2026:kept-number", {
  kind: "scalar",
  resolve: () => false,
  instanceOf: LosslessNumber,
  represent: (value: object) => (value as LosslessNumber).value,
});

const LOAD_SCHEMA = yaml.FAILSAFE_SCHEMA.extend({
  implicit: [TYPES.null, TYPES.bool, losslessInt, losslessFloat, TYPES.merge],
  explicit: [TYPES.binary, TYPES.omap, TYPES.pairs, TYPES.set],
});
// Written with the default schema (which still knows timestamps, so a date-like string is quoted and stays a
// string for every reader) plus kept numbers.
const DUMP_SCHEMA = yaml.DEFAULT_SCHEMA.extend({ implicit: [keptNumberType] });

/** Limits that keep a small crafted input from exhausting memory (a 587-byte alias bomb expands to gigabytes). */
export const YAML_LIMITS = {
  /** Text of one manifest file or stream. */
  maxTextBytes: 256 * 1024 * 1024,
  /** Uses of an anchor (`*name`) in one document; Kubernetes manifests rarely use any. */
  maxAliases: 10_000,
  /** Nodes of one document with every alias expanded, beyond the nodes its text can hold without aliases. */
  maxExpandedNodes: 1_000_000,
} as const;

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
  if (text.length > YAML_LIMITS.maxTextBytes) {
    throw new ManifestParseError(source, 0, `${text.length} bytes is more than the ${YAML_LIMITS.maxTextBytes} bytes twinsnap reads from one manifest source; split it`);
  }
  let docs: unknown[];
  try {
    docs = yaml.loadAll(text, null, { schema: LOAD_SCHEMA });
  } catch (err) {
    throw new ManifestParseError(source, 0, `not valid YAML or JSON: ${(err as Error).message.split("\n")[0]}`);
  }
  const out: KubeObject[] = [];
  docs.forEach((doc, i) => {
    if (doc === null || doc === undefined) return;
    checkExpandedSize(doc, source, i, text.length);
    if (isPlainObject(doc) && typeof doc.kind === "string" && doc.kind.endsWith("List") && Array.isArray(doc.items)) {
      doc.items.forEach((item, j) => out.push(checked(item, source, i, `items[${j}]`)));
      return;
    }
    out.push(checked(doc, source, i));
  });
  return out;
}

/**
 * js-yaml shares one object for every alias of an anchor, so loading is cheap; anything that then walks or writes
 * the document pays for the expansion. Walk it once with a budget and refuse it early when aliases blow it up.
 */
function checkExpandedSize(doc: unknown, source: string, index: number, textLength: number): void {
  const budget = YAML_LIMITS.maxExpandedNodes + textLength;
  const seen = new Set<object>();
  const stack: unknown[] = [doc];
  let nodes = 0;
  let aliases = 0;
  while (stack.length > 0) {
    const node = stack.pop();
    if (++nodes > budget) {
      throw new ManifestParseError(source, index, `the document expands to more than ${budget} nodes through YAML aliases (limit ${YAML_LIMITS.maxExpandedNodes} beyond its text); refused`);
    }
    if (node === null || typeof node !== "object" || isLosslessNumber(node)) continue;
    if (seen.has(node)) {
      if (++aliases > YAML_LIMITS.maxAliases) {
        throw new ManifestParseError(source, index, `more than ${YAML_LIMITS.maxAliases} YAML aliases in one document; refused (a Kubernetes manifest needs few or none)`);
      }
    } else seen.add(node);
    if (Array.isArray(node)) for (const el of node) stack.push(el);
    else for (const key of Object.keys(node)) stack.push((node as Record<string, unknown>)[key]);
  }
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
  return yaml.dump(ordered(obj), { schema: DUMP_SCHEMA, noRefs: true, lineWidth: -1, quotingType: '"' });
}

export function toYamlStream(objs: readonly KubeObject[]): string {
  return objs.map(toYaml).join("---\n");
}
