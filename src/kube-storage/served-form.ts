// What the apiserver does to a stored object before it serves it, beyond decoding: objects stored in an older
// version are converted to the version it serves, and defaults added since the object was written are filled in
// (the storage codec defaults on read). Two tables, each entry with its reason; objects without an entry pass as
// they are.

/** An object as etcd holds it, decoded. */
export type StoredObject = Record<string, unknown> & { apiVersion: string; kind: string; metadata: Record<string, unknown> };

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

interface Conversion {
  from: string;
  kind: string;
  to: string;
  why: string;
  convert(obj: Json): Json;
}

/** A printer column: v1beta1 calls its path JSONPath, v1 jsonPath. */
function printerColumnV1(column: unknown): unknown {
  if (!isObject(column)) return column;
  const { JSONPath, ...rest } = column;
  const out: Json = {};
  for (const key of ["name", "type", "format", "description", "priority"]) if (key in rest) out[key] = rest[key];
  if (JSONPath !== undefined) out.jsonPath = JSONPath;
  return out;
}

/** apiextensions.k8s.io/v1beta1 -> v1 CustomResourceDefinition, as the apiextensions conversion functions do. */
function crdV1(obj: Json): Json {
  const spec = isObject(obj.spec) ? obj.spec : {};
  const versions = Array.isArray(spec.versions) && spec.versions.length > 0 ? (spec.versions as Json[]) : spec.version ? [{ name: spec.version, served: true, storage: true }] : [];
  const topSchema = spec.validation;
  const topSubresources = spec.subresources;
  const topColumns = spec.additionalPrinterColumns as unknown[] | undefined;
  const v1Versions = versions.map((v) => {
    const out: Json = { name: v.name, served: v.served ?? false, storage: v.storage ?? false };
    if (v.deprecated) out.deprecated = v.deprecated;
    if (v.deprecationWarning !== undefined) out.deprecationWarning = v.deprecationWarning;
    // Top-level schema, subresources and columns apply to every version (they are per version in v1).
    const schema = v.schema ?? topSchema;
    if (schema !== undefined) out.schema = schema;
    const subresources = v.subresources ?? topSubresources;
    if (subresources !== undefined) out.subresources = subresources;
    const columns = (v.additionalPrinterColumns as unknown[] | undefined) ?? topColumns;
    if (columns && columns.length > 0) out.additionalPrinterColumns = columns.map(printerColumnV1);
    if (v.selectableFields !== undefined) out.selectableFields = v.selectableFields;
    return out;
  });
  const v1Spec: Json = { group: spec.group, names: spec.names, scope: spec.scope, versions: v1Versions };
  const conversion = isObject(spec.conversion) ? spec.conversion : undefined;
  const strategy = conversion?.strategy ?? "None";
  v1Spec.conversion =
    conversion && (conversion.webhookClientConfig !== undefined || (Array.isArray(conversion.conversionReviewVersions) && conversion.conversionReviewVersions.length > 0)) && strategy === "Webhook"
      ? { strategy, webhook: { ...(conversion.webhookClientConfig !== undefined ? { clientConfig: conversion.webhookClientConfig } : {}), conversionReviewVersions: conversion.conversionReviewVersions ?? ["v1beta1"] } }
      : { strategy };
  if (spec.preserveUnknownFields === true) v1Spec.preserveUnknownFields = true;
  return { ...obj, apiVersion: "apiextensions.k8s.io/v1", spec: v1Spec };
}

export const CONVERSIONS: readonly Conversion[] = [
  { from: "apiextensions.k8s.io/v1beta1", kind: "CustomResourceDefinition", to: "apiextensions.k8s.io/v1", why: "the apiserver still stores CRDs as v1beta1 and serves v1", convert: crdV1 },
];

interface ReadDefault {
  apiVersion: string;
  kind: string;
  why: string;
  apply(obj: Json): void;
}

export const READ_DEFAULTS: readonly ReadDefault[] = [
  {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    why: "apps/v1 defaulting gives each volumeClaimTemplate its kind and apiVersion when served",
    apply(obj) {
      const templates = isObject(obj.spec) && Array.isArray(obj.spec.volumeClaimTemplates) ? (obj.spec.volumeClaimTemplates as Json[]) : [];
      templates.forEach((t, i) => {
        if (!isObject(t) || (t.kind && t.apiVersion)) return;
        templates[i] = { kind: t.kind ?? "PersistentVolumeClaim", apiVersion: t.apiVersion ?? "v1", ...t };
      });
    },
  },
];

/** The object as the apiserver serves it: converted to the served version, read-time defaults applied. */
export function servedForm(stored: StoredObject): StoredObject {
  const conversion = CONVERSIONS.find((c) => c.from === stored.apiVersion && c.kind === stored.kind);
  const obj = (conversion ? conversion.convert(stored) : { ...stored }) as StoredObject;
  for (const d of READ_DEFAULTS) if (d.apiVersion === obj.apiVersion && d.kind === obj.kind) d.apply(obj);
  return obj;
}
