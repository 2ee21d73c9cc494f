// Velero-style include/exclude filters on namespaces and resources, for export.
export interface ResourceFilterOptions {
  includeNamespaces?: readonly string[];
  excludeNamespaces?: readonly string[];
  /** Resource names as Velero writes them: "deployments", "deployments.apps", "*". */
  includeResources?: readonly string[];
  excludeResources?: readonly string[];
}

export interface ResourceFilter {
  /** Whether a resource ("deployments.apps", "configmaps") passes the resource filters at all. */
  includesResource(groupResource: string): boolean;
  /** namespace "" for cluster-scoped objects. */
  includes(groupResource: string, namespace: string): boolean;
}

export function resourceFilter(opts: ResourceFilterOptions = {}): ResourceFilter {
  const incNs = new Set(opts.includeNamespaces ?? []);
  const excNs = new Set(opts.excludeNamespaces ?? []);
  const incRes = new Set(opts.includeResources ?? []);
  const excRes = new Set(opts.excludeResources ?? []);
  const resourceNames = (gr: string) => [gr, gr.split(".")[0]!];
  const includesResource = (groupResource: string) => {
    const names = resourceNames(groupResource);
    if (names.some((n) => excRes.has(n))) return false;
    return incRes.size === 0 || incRes.has("*") || names.some((n) => incRes.has(n));
  };
  return {
    includesResource,
    includes(groupResource, namespace) {
      if (!includesResource(groupResource)) return false;
      if (namespace === "") return true;
      if (excNs.has(namespace)) return false;
      return incNs.size === 0 || incNs.has("*") || incNs.has(namespace);
    },
  };
}
