// twinsnap.dev/restore-order: dependency-first restores inside Velero.
// At backup, the BackupItemAction finds what each item needs (the dependency rules), asks Velero to back those
// objects up too (additionalItems, for those its filters would miss) and records them on the stored item (annotation twinsnap.dev/restore-after).
// At restore, the RestoreItemAction hands that record back to Velero as additionalItems — Velero restores them
// before the item — and, where readiness matters (a CRD Established, a Namespace Active, a webhook's Service
// serving), asks Velero to wait for AreAdditionalItemsReady. The record travels in the backup, so a restore
// into a fresh cluster needs nothing but the backup. Webhooks, admission policies and APIServices are not
// created in Velero's order at all: restored-last.ts creates them after every other item.
// Without the apiserver both actions pass items through and warn once per backup or restore (cluster-access.ts).
import type { Logger } from "../log/logger.js";
import type { DependencyRef, DependencyRule, Readiness } from "../manifest/dependency-rule.js";
import { BUILTIN_DEPENDENCY_RULES, BUILTIN_GROUPS } from "../manifest/dependency-rules.js";
import { cloneJson, groupOf, isPlainObject, objectRef, type KubeObject } from "../manifest/object.js";
import { dependenciesOf } from "../manifest/restore-order.js";
import { restoredLast } from "../manifest/restored-last.js";
import { objectName } from "./velero-objects.js";
import { backupScope } from "./backup-scope.js";
import type { BackupItemAction, ResourceIdentifier, RestoreItemAction, VeleroObject } from "./action.js";
import { UnknownOperationError } from "./action.js";
import { ALWAYS_REACHABLE, oncePerRun, type ClusterAccessCheck } from "./cluster-access.js";
import { reasonNotToDefer, type RestoredLast } from "./restored-last.js";

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
  access: ClusterAccessCheck = ALWAYS_REACHABLE,
): BackupItemAction {
  const warnOff = oncePerRun(log, RESTORE_ORDER);
  return {
    family: "backup",
    name: RESTORE_ORDER,
    appliesTo: () => ({ includedResources: ["*"] }),
    async execute({ item, backup }) {
      const problem = await access();
      if (problem) {
        warnOff(backup, "backup", problem);
        return { item };
      }
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
  /** Creates webhooks, admission policies and APIServices after every other item (off without it). */
  restoredLast?: RestoredLast;
  /** Whether the apiserver can be reached (default: assumed). */
  access?: ClusterAccessCheck;
  /** What the other twinsnap restore actions do to an item, applied to a deferred one before it is kept. */
  prepare?: (item: KubeObject, itemFromBackup: KubeObject, restore: VeleroObject) => Promise<KubeObject>;
}

export function restoreOrderRestoreAction(cluster: ClusterView, log: Logger, opts: RestoreOrderOptions = {}): RestoreItemAction {
  const access = opts.access ?? ALWAYS_REACHABLE;
  const warnOff = oncePerRun(log, RESTORE_ORDER);
  const warnedNotDeferred = new Set<string>();
  return {
    family: "restore",
    name: RESTORE_ORDER,
    appliesTo: () => ({ includedResources: ["*"] }),
    async execute({ item, itemFromBackup, restore }) {
      const out = cloneJson(item);
      if (out.metadata.annotations) delete out.metadata.annotations[RESTORE_AFTER_ANNOTATION];
      const problem = await access();
      if (problem) {
        warnOff(restore, "restore", problem);
        return { item: out };
      }
      if (opts.restoredLast && restoredLast(out)) {
        const notDeferred = reasonNotToDefer(restore);
        if (!notDeferred) {
          const kept = opts.prepare ? await opts.prepare(out, itemFromBackup, restore) : out;
          const operationId = opts.restoredLast.defer(kept, restore);
          // Velero records the operation before it honours skipRestore: the item is created by progress().
          if (operationId) return { item: out, skipRestore: true, operationId };
        } else if (!warnedNotDeferred.has(objectName(restore))) {
          warnedNotDeferred.add(objectName(restore));
          log.warn(`${RESTORE_ORDER}: webhooks, admission policies and APIServices of restore ${objectName(restore)} are restored in Velero's order, not last: ${notDeferred}`);
        }
      }
      const recorded = readRecord(itemFromBackup, log) ?? readRecord(item, log) ?? [];
      if (recorded.length === 0) return { item: out };
      const waits = recorded.some((d) => d.readiness !== "exists");
      return {
        item: out,
        additionalItems: recorded.map(({ readiness: _r, ...id }) => id),
        waitForAdditionalItems: waits,
        ...(waits ? { additionalItemsReadyTimeoutMs: opts.readyTimeoutMs ?? 180_000 } : {}),
      };
    },
    async progress(operationId, restore) {
      if (!opts.restoredLast) throw new UnknownOperationError(RESTORE_ORDER, operationId);
      return opts.restoredLast.progress(operationId, restore);
    },
    async cancel(operationId, restore) {
      opts.restoredLast?.cancel(operationId, restore);
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
