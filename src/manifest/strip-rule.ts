// The shape of a stripping rule, and the context a rule is evaluated in.
import type { KubeObject } from "./object.js";

/**
 * Where stripping runs:
 * - backup:  inside Velero's backup (BackupItemAction). Velero reads the stored item again at restore
 *            time, so a backup rule may only remove what no Velero restore path reads.
 * - restore: inside Velero's restore (RestoreItemAction), after Velero's own built-in actions.
 * - export:  manifests for `twinsnap export` / `twinsnap apply`, where no Velero resets anything, so
 *            this stage also does what Velero's restore would have done.
 */
export type Stage = "backup" | "restore" | "export";
export const STAGES: readonly Stage[] = ["backup", "restore", "export"];

/** The parts of a Velero Restore object that stripping honours. */
export interface RestoreSettings {
  /** Restore.spec.preserveNodePorts */
  preserveNodePorts?: boolean;
  /** Resources whose status Velero restores (Restore.spec.restoreStatus.includedResources), e.g. ["widgets.example.com"]. */
  restoreStatusResources?: readonly string[];
  restoreStatusExcludedResources?: readonly string[];
}

export interface StripContext {
  readonly stage: Stage;
  /** The object before any rule ran (for Velero restores: the item as it was in the backup). */
  readonly original: KubeObject;
  /** The item as the backup holds it, when Velero passes it (restore stage). */
  readonly itemFromBackup?: KubeObject;
  readonly restore: RestoreSettings;
  readonly options: StripOptions;
}

export interface StripOptions {
  /** Keep Service nodePorts and healthCheckNodePort (like `velero restore create --preserve-nodeports`). */
  preserveNodePorts: boolean;
}

export const DEFAULT_STRIP_OPTIONS: StripOptions = { preserveNodePorts: false };

export interface StripRule {
  /** Stable name: users disable or preserve a rule by it. */
  readonly name: string;
  /** Qualified kinds ("Service", "apps/Deployment", "example.com/Widget") or "*" for every kind. */
  readonly kinds: "*" | readonly string[];
  readonly stages: readonly Stage[];
  /** Field paths removed (see field-path.ts). */
  readonly remove?: readonly string[];
  /** For edits a path cannot express (e.g. drop list entries that match). Returns the paths it removed. */
  readonly edit?: (obj: KubeObject, ctx: StripContext) => string[];
  /** The field paths an edit may remove: for documentation and for the preserve annotation. */
  readonly touches?: readonly string[];
  /** Leave the whole object out: Velero's skipRestore, or no file in an export. */
  readonly skip?: boolean;
  /** Extra condition; the rule runs only where it holds. */
  readonly when?: (obj: KubeObject, ctx: StripContext) => boolean;
  /** Why the rule exists, and why it is (not) safe at backup time. Shown by `twinsnap rules`. */
  readonly why: string;
  /** Where Velero's own restore already does the same (then this rule matters for export and as a safety net). */
  readonly veleroAlso?: string;
  /** "builtin" or "config" (added by the user's plugin configuration). */
  readonly origin?: "builtin" | "config";
}
