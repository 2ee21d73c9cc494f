// Velero-style include/exclude filters on namespaces and resources, for export.
export interface ResourceFilterOptions {
  includeNamespaces?: readonly string[];
  excludeNamespaces?: readonly string[];
  /** Resource names as Velero writes them: "deployments", "deployments.apps", "*". */
  includeResources?: readonly string[];
  excludeResources?: readonly string[];
}

export interface ResourceFilter {
  /** namespace "" for cluster-scoped objects; groupResource like "deployments.apps" or "configmaps". */
  includes(groupResource: string, namespace: string): boolean;
}

export function resourceFilter(opts: ResourceFilterOptions = {}): ResourceFilter {
  const incNs = new Set(opts.includeNamespaces ?? []);
  const excNs = new Set(opts.excludeNamespaces ?? []);
  const incRes = new Set(opts.includeResources ?? []);
  const excRes = new Set(opts.excludeResources ?? []);
  const resourceNames = (gr: string) => [gr, gr.split(".")[0]!];
  return {
    includes(groupResource, namespace) {
      const names = resourceNames(groupResource);
      if (names.some((n) => excRes.has(n))) return false;
      if (incRes.size > 0 && !incRes.has("*") && !names.some((n) => incRes.has(n))) return false;
      if (namespace === "") return true;
      if (excNs.has(namespace)) return false;
      return incNs.size === 0 || incNs.has("*") || incNs.has(namespace);
    },
  };
}
