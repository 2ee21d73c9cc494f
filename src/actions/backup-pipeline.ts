// One BackupItemAction for everything twinsnap does to an item at backup. Velero calls every BackupItemAction
// once per item, each call a gRPC round trip with the whole item in and out; two actions doubled that cost for
// a 3000-object backup. So the backup-side steps (strip runtime fields, then record restore order) run as one
// action in one call, in that order: the record is an annotation that stripping at backup keeps, and the
// dependency rules read fields stripping never removes at backup.
// Each step keeps its own name, failure isolation and log messages (wrap steps with keepItemOnFailure): a
// failing step costs its own changes only, and the error names the step users know, e.g.
// `twinsnap.dev/restore-order failed on ...`. Configuration keyed by either name keeps working: the plugin
// ConfigMap reader looks for both labels whichever action Velero lists.
import type { BackupItemAction, BackupItemActionOutput, ResourceIdentifier } from "./action.js";

export function backupPipeline(name: string, steps: readonly BackupItemAction[]): BackupItemAction {
  if (steps.length === 0) throw new Error(`backup pipeline ${name} has no steps`);
  return {
    family: "backup",
    name,
    // Every step applies to every item today; a narrower step filters itself inside execute.
    appliesTo: () => ({ includedResources: ["*"] }),
    async execute({ item, backup }) {
      let current = item;
      const additional: ResourceIdentifier[] = [];
      const seen = new Set<string>();
      for (const step of steps) {
        const out: BackupItemActionOutput = await step.execute({ item: current, backup });
        current = out.item;
        for (const id of out.additionalItems ?? []) {
          const key = `${id.group}/${id.resource}/${id.namespace}/${id.name}`;
          if (!seen.has(key)) (seen.add(key), additional.push(id));
        }
      }
      return { item: current, ...(additional.length > 0 ? { additionalItems: additional } : {}) };
    },
  };
}
