// Applies a stripping policy to one object. Pure: the input is never modified.
import { cloneTree } from "./clone.js";
import { generalizeFieldPath, getAtPath, removeAtPath } from "./field-path.js";
import { qualifiedKind, type KubeObject } from "./object.js";
import { DEFAULT_STRIP_OPTIONS, type RestoreSettings, type Stage, type StripContext, type StripOptions, type StripRule } from "./strip-rule.js";

/** Annotation on an object: rule names or field paths that stripping must leave alone, comma separated. */
export const PRESERVE_ANNOTATION = "twinsnap.dev/preserve";

export interface ObjectSelector {
  /** Qualified kind ("Service", "apps/Deployment"). */
  kind: string;
  namespace?: string;
  name?: string;
}

export interface StripPolicy {
  readonly rules: readonly StripRule[];
  /** Qualified kinds never touched. */
  readonly exemptKinds: ReadonlySet<string>;
  readonly exemptObjects: readonly ObjectSelector[];
  readonly options: StripOptions;
}

export interface Removal {
  rule: string;
  path: string;
}

export interface StripResult {
  object: KubeObject;
  /** Set when a rule says the object is not to be restored / exported at all. */
  skippedBy?: string;
  removed: Removal[];
}

export interface StripRequest {
  stage: Stage;
  itemFromBackup?: KubeObject;
  restore?: RestoreSettings;
}

export function stripObject(input: KubeObject, policy: StripPolicy, request: StripRequest): StripResult {
  const kind = qualifiedKind(input);
  if (isExempt(input, kind, policy)) return { object: input, removed: [] };

  const object = cloneTree(input);
  const preserved = preservedEntries(input);
  const ctx: StripContext = {
    stage: request.stage,
    original: input,
    ...(request.itemFromBackup ? { itemFromBackup: request.itemFromBackup } : {}),
    restore: request.restore ?? {},
    options: policy.options ?? DEFAULT_STRIP_OPTIONS,
  };
  const removed: Removal[] = [];

  for (const rule of policy.rules) {
    if (!rule.stages.includes(request.stage)) continue;
    if (rule.kinds !== "*" && !rule.kinds.includes(kind)) continue;
    if (preserved.has(rule.name)) continue;
    if (rule.when && !rule.when(object, ctx)) continue;
    if (rule.skip) return { object, skippedBy: rule.name, removed };
    for (const path of rule.remove ?? []) {
      if (isPreservedPath(path, preserved)) continue;
      for (const p of removeAtPath(object, path)) removed.push({ rule: rule.name, path: p });
    }
    if (rule.edit && !(rule.touches ?? []).some((p) => isPreservedPath(p, preserved))) {
      for (const p of rule.edit(object, ctx)) removed.push({ rule: rule.name, path: p });
    }
  }
  pruneEmptiedMaps(object, input, removed);
  return { object, removed };
}

/**
 * Maps that held only removed fields go too (`annotations: {}` would be applied as "no annotations" and show
 * up in every diff); maps that were empty in the input stay as they were.
 */
const PRUNABLE_PARENTS = ["metadata.annotations", "metadata.labels", "data", "spec.template.metadata.labels", "spec.selector"];
function pruneEmptiedMaps(object: KubeObject, input: KubeObject, removed: readonly Removal[]): void {
  if (removed.length === 0) return;
  for (const parent of PRUNABLE_PARENTS) {
    const now = getAtPath(object, parent);
    if (now === null || typeof now !== "object" || Array.isArray(now) || Object.keys(now).length > 0) continue;
    const before = getAtPath(input, parent) as Record<string, unknown> | undefined;
    if (before && Object.keys(before).length > 0) removeAtPath(object, parent);
  }
}

function isExempt(obj: KubeObject, kind: string, policy: StripPolicy): boolean {
  if (policy.exemptKinds.has(kind)) return true;
  return policy.exemptObjects.some(
    (sel) =>
      sel.kind === kind &&
      (sel.namespace === undefined || sel.namespace === (obj.metadata.namespace ?? "")) &&
      (sel.name === undefined || sel.name === obj.metadata.name),
  );
}

function preservedEntries(obj: KubeObject): Set<string> {
  const raw = obj.metadata.annotations?.[PRESERVE_ANNOTATION];
  if (typeof raw !== "string") return new Set();
  return new Set(
    raw
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== ""),
  );
}

/** "spec.ports" preserves "spec.ports[*].nodePort"; "status" preserves "status". */
function isPreservedPath(rulePath: string, preserved: ReadonlySet<string>): boolean {
  if (preserved.size === 0) return false;
  const path = generalizeFieldPath(rulePath);
  for (const entry of preserved) {
    const e = generalizeFieldPath(entry);
    if (path === e || path.startsWith(`${e}.`) || path.startsWith(`${e}[`)) return true;
  }
  return false;
}
