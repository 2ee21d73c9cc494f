// What Velero v1.18 does to an item after its restore item actions, written out for the items twinsnap creates
// itself at the end of a restore (restored-last.ts): the restore labels, the comparison with an object that
// already exists, and the existing-resource policy. Read from pkg/restore/restore.go (restoreItem,
// addRestoreLabels, resetMetadataAndStatus, processUpdateResourcePolicy) and pkg/label (GetValidName); pure.
import { createHash } from "node:crypto";
import { isPlainObject, type KubeObject } from "./object.js";

export const BACKUP_NAME_LABEL = "velero.io/backup-name";
export const RESTORE_NAME_LABEL = "velero.io/restore-name";

/** Velero's label.GetValidName: a name longer than a DNS-1035 label (63) keeps 57 characters and 6 of its sha256. */
export function veleroLabelValue(name: string): string {
  if (name.length <= 63) return name;
  return name.slice(0, 57) + createHash("sha256").update(name).digest("hex").slice(0, 6);
}

export function withRestoreLabels(obj: KubeObject, restoreName: string, backupName: string): KubeObject {
  const out = structuredClone(obj);
  out.metadata.labels = { ...out.metadata.labels, [BACKUP_NAME_LABEL]: veleroLabelValue(backupName), [RESTORE_NAME_LABEL]: veleroLabelValue(restoreName) };
  return out;
}

/** Fields the source apiserver assigned; Velero removes them (and status) before comparing or creating. */
const SERVER_METADATA = ["generateName", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences"];

export function resetMetadataAndStatus(obj: KubeObject): KubeObject {
  const out = structuredClone(obj);
  for (const field of SERVER_METADATA) delete out.metadata[field];
  delete out.status;
  return out;
}

/**
 * A JSON merge patch (RFC 7386) that turns `from` into `to`, as Velero's generatePatch makes it; undefined when
 * they are equal. Objects are patched key by key (a key missing in `to` becomes null), anything else is replaced.
 */
export function mergePatch(from: unknown, to: unknown): unknown {
  if (isPlainObject(from) && isPlainObject(to)) {
    const patch: Record<string, unknown> = {};
    for (const key of Object.keys(from)) if (!(key in to)) patch[key] = null;
    for (const [key, value] of Object.entries(to)) {
      const sub = key in from ? mergePatch(from[key], value) : value;
      if (sub !== undefined) patch[key] = sub;
    }
    return Object.keys(patch).length > 0 ? patch : undefined;
  }
  return deepEqual(from, to) ? undefined : to;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  return false;
}

/** Restore.spec.existingResourcePolicy: unset, "none" or "update". */
export type ExistingResourcePolicy = "" | "none" | "update";

/** What Velero does when the object it restores already exists. */
export type ExistingObjectStep =
  | { step: "leave"; warning?: string }
  /** Patch the object to the backed-up one; if that fails, warn and patch only the restore labels. */
  | { step: "update"; patch: unknown; labelsOnly: unknown }
  /** Patch only the restore labels (an error if it fails). */
  | { step: "relabel"; patch: unknown };

/**
 * Velero's decision for an existing object, by policy (restore.go, restoreItem after a create found it):
 *
 * | in the cluster      | policy unset        | none                 | update                                |
 * |---------------------|---------------------|----------------------|---------------------------------------|
 * | differs from backup | leave, warning      | leave, warning       | patch to the backup, else relabel+warn |
 * | same as backup      | leave               | leave                | relabel                               |
 *
 * `desired` is the item as Velero would have created it (restore labels included).
 */
export function existingObjectStep(inCluster: KubeObject, desired: KubeObject, policy: ExistingResourcePolicy): ExistingObjectStep {
  const labels = desired.metadata.labels ?? {};
  // Velero copies the restore labels onto the in-cluster object before comparing: they never make a difference.
  const withLabels = withRestoreLabels(resetMetadataAndStatus(inCluster), labels[RESTORE_NAME_LABEL] ?? "", labels[BACKUP_NAME_LABEL] ?? "");
  const withoutLabels = structuredClone(withLabels);
  withoutLabels.metadata.labels = { ...withoutLabels.metadata.labels, [BACKUP_NAME_LABEL]: "", [RESTORE_NAME_LABEL]: "" };
  const name = desired.metadata.name ?? "";
  if (!deepEqual(withLabels, desired)) {
    if (policy === "update") {
      const patch = mergePatch(withoutLabels, desired);
      return patch === undefined ? { step: "leave" } : { step: "update", patch, labelsOnly: mergePatch(withoutLabels, withLabels) };
    }
    const warning =
      policy === "none"
        ? `could not restore, ${desired.kind} "${name}" already exists. Warning: the in-cluster version is different than the backed-up version`
        : `could not restore, ${desired.kind}:${name} already exists. Warning: the in-cluster version is different than the backed-up version`;
    return { step: "leave", warning };
  }
  if (policy === "update") {
    const patch = mergePatch(withoutLabels, desired);
    return patch === undefined ? { step: "leave" } : { step: "relabel", patch };
  }
  return { step: "leave" };
}
