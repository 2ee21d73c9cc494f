// Whether a Velero backup takes an object in by its own filters. restore-order names an item's dependencies as
// additional items so that they are in the backup; for each one Velero GETs the object from the apiserver again,
// even when its filters would back it up anyway (in a few thousand objects that is thousands of extra GETs). So
// only dependencies the backup would miss are named; the rest are only recorded for the restore.
// Conservative by design: whatever this cannot decide for certain (label selectors, resource policies, namespace
// patterns, cluster-scoped objects without includeClusterResources) counts as not covered, which is always safe.
import { isPlainObject } from "../manifest/object.js";
import type { ResourceIdentifier, VeleroObject } from "./action.js";

export interface BackupScope {
  covers(id: ResourceIdentifier): boolean;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
const isPattern = (s: string) => s !== "*" && /[*?[\]{}!]/.test(s);

/** Velero names resources as "configmaps" (core) or "deployments.apps"; "*" is everything. */
function names(id: ResourceIdentifier): string[] {
  return id.group === "" ? [id.resource, `${id.resource}.`] : [`${id.resource}.${id.group}`];
}

function resourceAllowed(id: ResourceIdentifier, included: string[], excluded: string[]): boolean {
  const mine = names(id);
  if (excluded.some((e) => e === "*" || mine.includes(e) || isPattern(e))) return false;
  return included.length === 0 || included.some((i) => i === "*" || mine.includes(i));
}

export function backupScope(backup: VeleroObject): BackupScope {
  const spec = isPlainObject(backup.spec) ? backup.spec : {};
  const selective = spec.labelSelector != null || (Array.isArray(spec.orLabelSelectors) && spec.orLabelSelectors.length > 0) || spec.resourcePolicy != null;
  const includedNamespaces = strings(spec.includedNamespaces);
  const excludedNamespaces = strings(spec.excludedNamespaces);
  const included = strings(spec.includedResources);
  const excluded = strings(spec.excludedResources);
  const namespaced = { included: strings(spec.includedNamespaceScopedResources), excluded: strings(spec.excludedNamespaceScopedResources) };
  const clusterScoped = { included: strings(spec.includedClusterScopedResources), excluded: strings(spec.excludedClusterScopedResources) };
  return {
    covers(id) {
      if (selective) return false;
      if (id.namespace === "") {
        // Velero backs up cluster-scoped objects on their own only when asked to; otherwise only as related items.
        if (spec.includeClusterResources !== true) return false;
        return resourceAllowed(id, included, excluded) && resourceAllowed(id, clusterScoped.included, clusterScoped.excluded);
      }
      if (excludedNamespaces.some((n) => n === id.namespace || isPattern(n) || n === "*")) return false;
      const nsIncluded = includedNamespaces.length === 0 || includedNamespaces.some((n) => n === "*" || n === id.namespace);
      return nsIncluded && resourceAllowed(id, included, excluded) && resourceAllowed(id, namespaced.included, namespaced.excluded);
    },
  };
}
