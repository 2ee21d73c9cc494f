// Webhooks, admission policies and APIServices last, inside a plain `velero restore create`.
// Velero (v1.18, pkg/restore/restore.go restoreItem) records an item operation when a RestoreItemAction returns an
// operationID, *before* it honours skipRestore; right after the last item it asks each operation for Progress
// (restore_controller.go, getRestoreItemOperationProgress), in the same plugin process, before the phase moves
// on. So Execute remembers the item and skips it, and the first Progress creates it — after every other item —
// the way Velero would have (its restore labels, the existing-resource policy). A failure is the operation's
// error, which Velero adds to the Restore's errors ("error from restore item operation: ...").
import type { Logger } from "../log/logger.js";
import { objectRef, isPlainObject, type KubeObject } from "../manifest/object.js";
import { restoredLast } from "../manifest/restored-last.js";
import { deepEqual, existingObjectStep, mergePatch, withRestoreLabels, type ExistingResourcePolicy } from "../manifest/velero-restore-item.js";
import type { OperationProgress, VeleroObject } from "./action.js";
import { objectName } from "./velero-objects.js";

/** The apiserver side: one object by its own apiVersion and Velero's resource name. */
export interface ObjectWriter {
  get(obj: KubeObject, resource: string): Promise<KubeObject | undefined>;
  /** The created object, or undefined when one of that name already exists. */
  create(obj: KubeObject, resource: string): Promise<KubeObject | undefined>;
  mergePatch(obj: KubeObject, resource: string, patch: unknown): Promise<KubeObject>;
}

interface Deferred {
  item: KubeObject;
  resource: string;
  restoreName: string;
  backupName: string;
  policy: ExistingResourcePolicy;
  started: Date;
  /** Settled once: a later Progress call for the same operation gets the same answer. */
  outcome?: Promise<OperationProgress>;
}

/** Why an item of a restored-last kind is nevertheless left to Velero's own order; undefined: defer it. */
export function reasonNotToDefer(restore: VeleroObject): string | undefined {
  const spec = isPlainObject(restore.spec) ? restore.spec : {};
  // Resource modifiers are applied by Velero after the actions; an item created by twinsnap would miss them.
  if (isPlainObject(spec.resourceModifier)) return "the restore has resource modifiers, which twinsnap cannot apply to the items it creates itself";
  return undefined;
}

export class RestoredLast {
  private readonly deferred = new Map<string, Deferred>();

  constructor(
    private readonly writer: ObjectWriter,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The operation ID for `item` if it is deferred to the end of `restore`, else undefined. */
  defer(item: KubeObject, restore: VeleroObject): string | undefined {
    const last = restoredLast(item);
    if (!last) return undefined;
    const ns = item.metadata.namespace;
    const operationId = `restore-last/${last.resource}/${ns ? `${ns}/` : ""}${item.metadata.name ?? ""}`;
    const spec = isPlainObject(restore.spec) ? restore.spec : {};
    const policy = spec.existingResourcePolicy === "update" || spec.existingResourcePolicy === "none" ? spec.existingResourcePolicy : "";
    this.deferred.set(key(restore, operationId), {
      item,
      resource: last.resource,
      restoreName: objectName(restore),
      backupName: typeof spec.backupName === "string" ? spec.backupName : "",
      policy,
      started: this.now(),
    });
    this.log.info(`${objectRef(item)} is created at the end of the restore, after every other item (${last.why})`);
    return operationId;
  }

  progress(operationId: string, restore: VeleroObject): Promise<OperationProgress> {
    const d = this.deferred.get(key(restore, operationId));
    if (!d) {
      return Promise.resolve({
        completed: true,
        error:
          `twinsnap.dev/restore-order deferred ${operationId} to the end of restore ${objectName(restore)}, but the plugin process that ` +
          `held it has restarted: it was not created. Restore it again with: velero restore create --from-backup <backup> ` +
          `--include-resources ${operationId.split("/")[1]} --include-cluster-resources=true`,
        started: this.now(),
        updated: this.now(),
      });
    }
    d.outcome ??= this.create(d);
    return d.outcome;
  }

  cancel(operationId: string, restore: VeleroObject): void {
    this.deferred.delete(key(restore, operationId));
  }

  private async create(d: Deferred): Promise<OperationProgress> {
    const what = `${d.item.kind} "${d.item.metadata.name ?? ""}"`;
    const done = (error?: string): OperationProgress => ({
      completed: true,
      ...(error ? { error } : {}),
      completedUnits: error ? 0 : 1,
      totalUnits: 1,
      unit: "objects",
      description: error ? `${what} not restored` : `${what} restored after every other item`,
      started: d.started,
      updated: this.now(),
    });
    const desired = withRestoreLabels(d.item, d.restoreName, d.backupName);
    try {
      const created = await this.writer.create(desired, d.resource);
      if (created) {
        await this.restoreManagedFields(created, desired, d.resource);
        this.log.info(`created ${objectRef(desired)} after the restore's other items`);
        return done();
      }
      const inCluster = await this.writer.get(desired, d.resource);
      if (!inCluster) throw new Error("the apiserver reported that it already exists, and then that it does not");
      const step = existingObjectStep(inCluster, desired, d.policy);
      switch (step.step) {
        case "leave":
          if (step.warning) this.log.warn(step.warning);
          else this.log.info(`restore of ${objectRef(desired)} skipped: it already exists in the cluster`);
          return done();
        case "relabel":
          await this.writer.mergePatch(desired, d.resource, step.patch);
          return done();
        case "update":
          try {
            await this.writer.mergePatch(desired, d.resource, step.patch);
          } catch (err) {
            this.log.warn(`patch attempt failed for ${objectRef(desired)}: ${messageOf(err)}`);
            if (step.labelsOnly !== undefined) await this.writer.mergePatch(desired, d.resource, step.labelsOnly);
          }
          return done();
      }
    } catch (err) {
      return done(`error restoring ${d.resource}/${d.item.metadata.name ?? ""} (created by twinsnap.dev/restore-order after the restore's other items): ${messageOf(err)}`);
    }
  }

  /** Velero sets the backed-up managedFields on the created object with a patch; so does this. */
  private async restoreManagedFields(created: KubeObject, desired: KubeObject, resource: string): Promise<void> {
    const wanted = desired.metadata.managedFields;
    if (wanted === undefined || deepEqual(created.metadata.managedFields, wanted)) return;
    const patch = mergePatch({ metadata: { managedFields: created.metadata.managedFields ?? null } }, { metadata: { managedFields: wanted } });
    if (patch !== undefined) await this.writer.mergePatch(desired, resource, patch);
  }
}

function key(restore: VeleroObject, operationId: string): string {
  const meta = isPlainObject(restore.metadata) ? restore.metadata : {};
  return `${typeof meta.uid === "string" && meta.uid ? meta.uid : objectName(restore)}/${operationId}`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
