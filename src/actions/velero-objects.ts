// Reading the few fields of Velero's Backup and Restore objects that actions honour.
import { isPlainObject } from "../manifest/object.js";
import type { RestoreSettings } from "../manifest/strip-rule.js";
import type { VeleroObject } from "./action.js";

export function restoreSettings(restore: VeleroObject): RestoreSettings {
  const spec = isPlainObject(restore.spec) ? restore.spec : {};
  const status = isPlainObject(spec.restoreStatus) ? spec.restoreStatus : {};
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
  return {
    preserveNodePorts: spec.preserveNodePorts === true,
    restoreStatusResources: strings(status.includedResources),
    restoreStatusExcludedResources: strings(status.excludedResources),
  };
}

export function objectName(obj: VeleroObject): string {
  const meta = isPlainObject(obj.metadata) ? obj.metadata : {};
  return typeof meta.name === "string" ? meta.name : "";
}
