// Why a Velero backup does not hold an object that etcd held while it ran: Velero 1.18's rules (pkg/backup
// item_collector.go, item_backupper.go, pkg/util/collections/includes_excludes.go) as an ordered table; the first
// rule that explains the absence names it. Pure: objects and the Backup spec in, reasons out.

/** What the diff needs of a snapshot object. */
export interface CoverageObject {
  groupResource: string;
  resource: string;
  namespace: string;
  name: string;
  labels: Record<string, string>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  /** False when the value could not be decoded (encrypted without a key): label and time rules cannot be judged. */
  decoded: boolean;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** The parts of Velero's BackupSpec and status that decide what a backup holds. */
export interface BackupFilters {
  includedNamespaces?: string[];
  excludedNamespaces?: string[];
  includedResources?: string[];
  excludedResources?: string[];
  includeClusterResources?: boolean | null;
  includedClusterScopedResources?: string[];
  excludedClusterScopedResources?: string[];
  includedNamespaceScopedResources?: string[];
  excludedNamespaceScopedResources?: string[];
  labelSelector?: LabelSelector;
  orLabelSelectors?: LabelSelector[];
  /** status.startTimestamp: Velero lists the API after this. */
  startTimestamp?: string;
}

export type MissReason =
  | "never-backed-up"
  | "excluded-by-label"
  | "being-deleted"
  | "excluded-namespace"
  | "excluded-resource"
  | "cluster-scoped-not-included"
  | "label-selector"
  | "created-after-backup-started"
  | "unexplained";

export const REASON_TEXT: Record<MissReason, string> = {
  "never-backed-up": "never backed up by design (Velero leaves these out or does not restore them)",
  "excluded-by-label": "labelled velero.io/exclude-from-backup=true",
  "being-deleted": "being deleted while the backup ran",
  "excluded-namespace": "its namespace is not included in the backup",
  "excluded-resource": "its resource is excluded from the backup",
  "cluster-scoped-not-included": "cluster-scoped, and the backup did not include cluster-scoped resources",
  "label-selector": "does not match the backup's label selector",
  "created-after-backup-started": "created after the backup started",
  unexplained: "no filter explains it (a plugin skipped it, or the backup had errors: see velero backup logs)",
};

/** Resources Velero never restores (pkg/controller/restore_controller.go nonRestorableResources) or that are its own. */
export const NEVER_BACKED_UP: readonly string[] = [
  "nodes",
  "events",
  "events.events.k8s.io",
  "backups.velero.io",
  "restores.velero.io",
  "resticrepositories.velero.io",
  "backuprepositories.velero.io",
  "csinodes.storage.k8s.io",
  "volumeattachments.storage.k8s.io",
];

function listMatch(list: readonly string[] | undefined, obj: Pick<CoverageObject, "groupResource" | "resource">): boolean {
  return (list ?? []).some((e) => e === "*" || e === obj.groupResource || e === obj.resource);
}

/** Velero's namespace filters accept globs ("app-*"). */
function globMatch(patterns: readonly string[] | undefined, value: string): boolean {
  return (patterns ?? []).some((p) => p === "*" || p === value || (p.includes("*") && new RegExp(`^${p.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`).test(value)));
}

export function namespaceIncluded(f: BackupFilters, ns: string): boolean {
  const includes = f.includedNamespaces ?? [];
  const included = includes.length === 0 || globMatch(includes, ns);
  return included && !globMatch(f.excludedNamespaces, ns);
}

function allNamespaces(f: BackupFilters): boolean {
  const includes = f.includedNamespaces ?? [];
  return (includes.length === 0 || includes.includes("*")) && (f.excludedNamespaces ?? []).length === 0;
}

export function selectorMatches(s: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(s.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of s.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const ok =
      e.operator === "In" ? has && (e.values ?? []).includes(labels[e.key]!)
      : e.operator === "NotIn" ? !has || !(e.values ?? []).includes(labels[e.key]!)
      : e.operator === "Exists" ? has
      : e.operator === "DoesNotExist" ? !has
      : false;
    if (!ok) return false;
  }
  return true;
}

/** Which of Velero's two filter styles the backup uses (the old ones win when any is set, as in Velero). */
function oldStyle(f: BackupFilters): boolean {
  return f.includeClusterResources != null || (f.includedResources ?? []).length > 0 || (f.excludedResources ?? []).length > 0;
}

function resourceExcluded(f: BackupFilters, o: CoverageObject): boolean {
  const clusterScoped = o.namespace === "";
  if (oldStyle(f) || !(f.includedClusterScopedResources || f.excludedClusterScopedResources || f.includedNamespaceScopedResources || f.excludedNamespaceScopedResources)) {
    if (listMatch(f.excludedResources, o)) return true;
    const includes = f.includedResources ?? [];
    return includes.length > 0 && !includes.includes("*") && !listMatch(includes, o);
  }
  if (clusterScoped) return listMatch(f.excludedClusterScopedResources, o);
  if (listMatch(f.excludedNamespaceScopedResources, o)) return true;
  const includes = f.includedNamespaceScopedResources ?? [];
  return includes.length > 0 && !includes.includes("*") && !listMatch(includes, o);
}

function clusterScopedLeftOut(f: BackupFilters, o: CoverageObject): boolean {
  if (o.namespace !== "" || o.groupResource === "namespaces") return false;
  if (oldStyle(f) || !(f.includedClusterScopedResources || f.excludedClusterScopedResources)) {
    if (f.includeClusterResources === false) return true;
    // Auto (nil): directly only in a backup of every namespace; otherwise only when an item action adds them.
    return f.includeClusterResources == null && !allNamespaces(f);
  }
  const includes = f.includedClusterScopedResources ?? [];
  const fullBackup = includes.length === 0 && (f.excludedClusterScopedResources ?? []).length === 0 && allNamespaces(f);
  return !fullBackup && !includes.includes("*") && !listMatch(includes, o);
}

interface CoverageRule {
  reason: MissReason;
  applies(o: CoverageObject, f: BackupFilters): boolean;
}

/** In order: the first that applies is the reason. */
export const COVERAGE_RULES: readonly CoverageRule[] = [
  { reason: "never-backed-up", applies: (o) => NEVER_BACKED_UP.includes(o.groupResource) },
  { reason: "excluded-by-label", applies: (o) => o.labels["velero.io/exclude-from-backup"] === "true" },
  { reason: "being-deleted", applies: (o) => o.deletionTimestamp !== undefined },
  { reason: "excluded-namespace", applies: (o, f) => o.namespace !== "" && !namespaceIncluded(f, o.namespace) },
  { reason: "excluded-resource", applies: (o, f) => resourceExcluded(f, o) },
  { reason: "cluster-scoped-not-included", applies: (o, f) => clusterScopedLeftOut(f, o) },
  {
    reason: "label-selector",
    applies: (o, f) =>
      o.decoded &&
      (f.labelSelector !== undefined || (f.orLabelSelectors ?? []).length > 0) &&
      !(f.labelSelector && selectorMatches(f.labelSelector, o.labels)) &&
      !(f.orLabelSelectors ?? []).some((s) => selectorMatches(s, o.labels)),
  },
  {
    // Timestamps have whole seconds: an object created in the second the backup started may be either side.
    reason: "created-after-backup-started",
    applies: (o, f) => f.startTimestamp !== undefined && o.creationTimestamp !== undefined && Date.parse(o.creationTimestamp) >= Date.parse(f.startTimestamp),
  },
];

export function whyMissing(o: CoverageObject, f: BackupFilters): MissReason {
  return COVERAGE_RULES.find((r) => r.applies(o, f))?.reason ?? "unexplained";
}

/** The filters of a Velero Backup object (velero-backup.json, `kubectl get backup -o json`). */
export function backupFilters(backup: { spec?: Record<string, unknown>; status?: { startTimestamp?: string } }): BackupFilters {
  const spec = (backup.spec ?? {}) as BackupFilters;
  return { ...spec, ...(backup.status?.startTimestamp ? { startTimestamp: backup.status.startTimestamp } : {}) };
}
