// twinsnap.dev/strip-runtime-fields, as a BackupItemAction (portable manifests inside the backup)
// and as a RestoreItemAction (what ties an object to its old cluster and Velero leaves behind).
import type { Logger } from "../log/logger.js";
import { objectRef } from "../manifest/object.js";
import { stripObject, type StripPolicy } from "../manifest/strip.js";
import type { BackupItemAction, RestoreItemAction } from "./action.js";
import { restoreSettings } from "./velero-objects.js";

export const STRIP_RUNTIME_FIELDS = "twinsnap.dev/strip-runtime-fields";

/** Supplies the current policy; the plugin re-reads the user's ConfigMap through it. */
export type StripPolicySource = () => Promise<StripPolicy>;

export function stripRuntimeFieldsBackupAction(policy: StripPolicySource, log: Logger): BackupItemAction {
  return {
    family: "backup",
    name: STRIP_RUNTIME_FIELDS,
    appliesTo: () => ({ includedResources: ["*"] }),
    async execute({ item }) {
      const result = stripObject(item, await policy(), { stage: "backup" });
      if (result.removed.length > 0) {
        log.debug("stripped runtime fields", { item: objectRef(item), removed: result.removed.map((r) => r.path).join(",") });
      }
      return { item: result.object };
    },
  };
}

export function stripRuntimeFieldsRestoreAction(policy: StripPolicySource, log: Logger): RestoreItemAction {
  return {
    family: "restore",
    name: STRIP_RUNTIME_FIELDS,
    appliesTo: () => ({ includedResources: ["*"] }),
    async execute({ item, itemFromBackup, restore }) {
      const result = stripObject(item, await policy(), {
        stage: "restore",
        itemFromBackup,
        restore: restoreSettings(restore),
      });
      if (result.skippedBy) {
        log.info("not restoring item", { item: objectRef(item), rule: result.skippedBy });
        return { item: result.object, skipRestore: true };
      }
      if (result.removed.length > 0) {
        log.debug("stripped runtime fields", { item: objectRef(item), removed: result.removed.map((r) => r.path).join(",") });
      }
      return { item: result.object };
    },
    // Synchronous: it never returns additional items, so they are always ready.
    areAdditionalItemsReady: async () => true,
  };
}
