// twinsnap.dev/restore-order: dependency-first restores inside Velero.
// At backup, the BackupItemAction finds what each item needs (the dependency rules), asks Velero to back those
// objects up too (additionalItems, for those its filters would miss) and records them on the stored item (annotation twinsnap.dev/restore-after).
// At restore, the RestoreItemAction hands that record back to Velero as additionalItems — Velero restores them
// before the item — and, where readiness matters (a CRD Established, a Namespace Active, a webhook's Service
// serving), asks Velero to wait for AreAdditionalItemsReady. The record travels in the backup, so a restore
// into a fresh cluster needs nothing but the backup.
import type { Logger } from "../log/logger.js";
import type { DependencyRef, DependencyRule, Readiness } from "../manifest/dependency-rule.js";
import { BUILTIN_DEPENDENCY_RULES, BUILTIN_GROUPS } from "../manifest/dependency-rules.js";
import { cloneJson, groupOf, isPlainObject, objectRef, type KubeObject } from "../manifest/object.js";
import { dependenciesOf } from "../manifest/restore-order.js";
import { backupScope } from "./backup-scope.js";
import type { BackupItemAction, ResourceIdentifier, RestoreItemAction, VeleroObject } from "./action.js";

export const RESTORE_ORDER = "twinsnap.dev/restore-order";
export const RESTORE_AFTER_ANNOTATION = "twinsnap.dev/restore-after";

export interface RecordedDependency extends ResourceIdentifier {
  readiness: Readiness;
}

/** What the actions need to know about a cluster; implemented over the apiserver in kube/cluster-view.ts. */
export interface ClusterView {
  /** The plural resource serving group/kind, or undefined if the cluster does not serve it. */
  resourceFor(group: string, kind: string): Promise<string | undefined>;
  exists(id: ResourceIdentifier): Promise<boolean>;
  isReady(id: ResourceIdentifier, readiness: Readiness): Promise<boolean>;
}

/** Dependencies Velero already guarantees: it creates an item's namespace itself. */
const IMPLICIT = (dep: DependencyRef) => dep.kind === "Namespace" && dep.group === "";

export function restoreOrderBackupAction(
  cluster: ClusterView,
  log: Logger,
  rules: () => Promise<readonly DependencyRule[]> = async () => BUILTIN_DEPENDENCY_RULES,
): BackupItemAction {
  return {
    family: "backup",
    name: RESTORE_ORDER,
    appliesTo: () => ({ includedResources: ["*"] }),
    async execute({ item, backup }) {
      const group = groupOf(item.apiVersion);
      // The CRD of a custom resource is named <plural>.<group>; discovery gives the plural.
      const crdName = BUILTIN_GROUPS.has(group) ? undefined : await cluster.resourceFor(group, item.kind).then((r) => (r ? `${r}.${group}` : undefined));
      const deps = dependenciesOf(item, await rules(), {
        crdFor: (g, k) => (g === group && k === item.kind && crdName ? ({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: crdName } } as KubeObject) : undefined),
      }).filter((d) => !IMPLICIT(d));

      const recorded: RecordedDependency[] = [];
      for (const dep of deps) {
        const resource = await cluster.resourceFor(dep.group, dep.kind);
        if (!resource) continue;
        const id = { group: dep.group, resource, namespace: dep.namespace, name: dep.name };
        // Only what exists can be backed up; naming a missing object would make Velero warn at backup and restore.
        if (await cluster.exists(id)) recorded.push({ ...id, readiness: dep.readiness });
        else log.debug("dependency not in the cluster", { item: objectRef(item), needs: `${resource} ${dep.namespace}/${dep.name}` });
      }
      if (recorded.length === 0) return { item };
      // Only metadata.annotations changes: copy that path, share the rest (the input is never modified).
      const out: KubeObject = { ...item, metadata: { ...item.metadata, annotations: { ...item.metadata.annotations, [RESTORE_AFTER_ANNOTATION]: JSON.stringify(recorded) } } };
      // Named for Velero only when its filters would miss them: Velero GETs every additional item again.
      const scope = backupScope(backup);
      const additionalItems = recorded.map(({ readiness: _r, ...id }) => id).filter((id) => !scope.covers(id));
      return { item: out, ...(additionalItems.length > 0 ? { additionalItems } : {}) };
    },
  };
}

export interface RestoreOrderOptions {
  /** How long Velero waits for the additional items to become ready (default 3 minutes). */
  readyTimeoutMs?: number;
}

export function restoreOrderRestoreAction(cluster: ClusterView, log: Logger, opts: RestoreOrderOptions = {}): RestoreItemAction {
  return {
    family: "restore",
    name: RESTORE_ORDER,
    appliesTo: () => ({ includedResources: ["*"] }),
    async execute({ item, itemFromBackup }) {
      const recorded = readRecord(itemFromBackup, log) ?? readRecord(item, log) ?? [];
      const out = cloneJson(item);
      if (out.metadata.annotations) delete out.metadata.annotations[RESTORE_AFTER_ANNOTATION];
      if (recorded.length === 0) return { item: out };
      const waits = recorded.some((d) => d.readiness !== "exists");
      return {
        item: out,
        additionalItems: recorded.map(({ readiness: _r, ...id }) => id),
        waitForAdditionalItems: waits,
        ...(waits ? { additionalItemsReadyTimeoutMs: opts.readyTimeoutMs ?? 180_000 } : {}),
      };
    },
    async areAdditionalItemsReady(items, restore) {
      const mapping = namespaceMapping(restore);
      for (const id of items) {
        const target = { ...id, namespace: mapping.get(id.namespace) ?? id.namespace };
        if (!(await cluster.isReady(target, readinessOf(id)))) return false;
      }
      return true;
    },
  };
}

/** Velero passes identifiers only; readiness follows from what the resource is. */
export function readinessOf(id: ResourceIdentifier): Readiness {
  if (id.group === "apiextensions.k8s.io" && id.resource === "customresourcedefinitions") return "established";
  if (id.group === "" && id.resource === "namespaces") return "active";
  if (id.group === "" && id.resource === "services") return "serving";
  return "exists";
}

function readRecord(obj: KubeObject, log: Logger): RecordedDependency[] | undefined {
  const raw = obj.metadata.annotations?.[RESTORE_AFTER_ANNOTATION];
  if (raw === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (!Array.isArray(parsed)) throw new Error("not a list");
    return parsed.filter(
      (d): d is RecordedDependency =>
        isPlainObject(d) && typeof d.group === "string" && typeof d.resource === "string" && typeof d.namespace === "string" && typeof d.name === "string",
    );
  } catch (err) {
    // A damaged record costs the ordering hint, never the item.
    log.warn("ignoring a damaged restore-after annotation", { item: objectRef(obj), error: (err as Error).message });
    return undefined;
  }
}

function namespaceMapping(restore: VeleroObject): Map<string, string> {
  const spec = isPlainObject(restore.spec) ? restore.spec : {};
  const m = isPlainObject(spec.namespaceMapping) ? spec.namespaceMapping : {};
  return new Map(Object.entries(m).filter((e): e is [string, string] => typeof e[1] === "string"));
}
