// User configuration of stripping: disable built-in rules, exempt kinds or objects, add rules.
// It arrives as YAML (the plugin's ConfigMap, or `--rules FILE` on the CLI; parsed in rules-config.ts) and is
// validated here, so a mistake is reported with its place instead of silently changing what a backup holds.
import { getAtPath, parseFieldPath, type PathSegment } from "./field-path.js";
import { isPlainObject, type JsonValue } from "./object.js";
import type { ObjectSelector, StripPolicy } from "./strip.js";
import { DEFAULT_STRIP_OPTIONS, STAGES, type Stage, type StripOptions, type StripRule } from "./strip-rule.js";
import { BUILTIN_STRIP_RULES } from "./strip-rules.js";

export interface UserRuleCondition {
  path: string;
  equals?: JsonValue;
  notEquals?: JsonValue;
  exists?: boolean;
}

export interface UserStripRule {
  name: string;
  kinds: "*" | string[];
  stages?: Stage[];
  remove: string[];
  when?: UserRuleCondition;
  why?: string;
}

export interface StripConfig {
  disableRules?: string[];
  exempt?: { kinds?: string[]; objects?: ObjectSelector[] };
  rules?: UserStripRule[];
  options?: Partial<StripOptions>;
}

export class RulesConfigError extends Error {
  override readonly name = "RulesConfigError";
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid twinsnap rules configuration in ${source}:\n  - ${problems.join("\n  - ")}`);
  }
}

/**
 * What Velero reads from a stored item when it restores (see docs/velero-code-paths.md). No rule may remove
 * these at backup time: the backup would look clean and then restore wrong.
 */
export const PROTECTED_AT_BACKUP: readonly { kinds: "*" | readonly string[]; path: string; reason: string }[] = [
  { kinds: "*", path: "metadata.name", reason: "the item's identity in the backup" },
  { kinds: "*", path: "metadata.namespace", reason: "the item's identity in the backup" },
  { kinds: "*", path: "metadata.managedFields", reason: "Velero re-applies managedFields after it creates the object" },
  { kinds: "*", path: "metadata.labels", reason: "Velero's restore and label selectors read them" },
  { kinds: "*", path: "metadata.annotations['velero.io", reason: "Velero's own annotations" },
  { kinds: "*", path: "metadata.annotations['backup.velero.io", reason: "pod volume backup selection" },
  { kinds: "*", path: "metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']", reason: "velero.io/service reads it to keep explicit nodePorts" },
  { kinds: ["Pod", "batch/Job", "PersistentVolume", "PersistentVolumeClaim"], path: "status", reason: "Velero skips completed Pods/Jobs and binds volumes by status" },
  { kinds: ["Pod"], path: "spec.volumes", reason: "Velero's pod volume restore reads the restored Pod's volumes to match them with the backed-up data" },
  { kinds: ["PersistentVolumeClaim"], path: "spec.volumeName", reason: "Velero binds a restored claim to its volume" },
  { kinds: ["PersistentVolumeClaim"], path: "metadata.annotations", reason: "Velero's CSI and data mover restores read the claim's annotations" },
  { kinds: ["PersistentVolume"], path: "spec.claimRef", reason: "Velero remaps and re-binds the volume's claim" },
  { kinds: ["Service"], path: "spec.ports", reason: "velero.io/service decides which nodePorts to keep" },
];

/** Builds the policy: built-in rules (minus disabled ones) followed by the user's rules. */
export function buildStripPolicy(config: StripConfig = {}, source = "configuration"): StripPolicy {
  const problems: string[] = [];
  const builtinNames = new Set(BUILTIN_STRIP_RULES.map((r) => r.name));
  const disabled = new Set(config.disableRules ?? []);
  for (const name of disabled) {
    if (!builtinNames.has(name)) problems.push(`disableRules: no built-in rule is named "${name}"`);
  }
  const userRules = (config.rules ?? []).map((r): StripRule => compileUserRule(r));
  const seen = new Set<string>();
  for (const r of userRules) {
    if (builtinNames.has(r.name)) problems.push(`rules: "${r.name}" is the name of a built-in rule; choose another name`);
    if (seen.has(r.name)) problems.push(`rules: "${r.name}" is defined twice`);
    seen.add(r.name);
    problems.push(...backupSafetyProblems(r));
  }
  if (problems.length > 0) throw new RulesConfigError(source, problems);
  return {
    rules: [...BUILTIN_STRIP_RULES.filter((r) => !disabled.has(r.name)), ...userRules],
    exemptKinds: new Set(config.exempt?.kinds ?? []),
    exemptObjects: config.exempt?.objects ?? [],
    options: { ...DEFAULT_STRIP_OPTIONS, ...config.options },
  };
}

export const DEFAULT_STRIP_POLICY: StripPolicy = buildStripPolicy();

/** Problems with a rule that would remove, at backup time, something Velero's restore reads. */
export function backupSafetyProblems(rule: StripRule): string[] {
  if (!rule.stages.includes("backup")) return [];
  const problems: string[] = [];
  for (const path of [...(rule.remove ?? []), ...(rule.touches ?? [])]) {
    for (const guard of PROTECTED_AT_BACKUP) {
      const kindsOverlap =
        rule.kinds === "*" || guard.kinds === "*" || rule.kinds.some((k) => (guard.kinds as readonly string[]).includes(k));
      if (!kindsOverlap) continue;
      if (pathsOverlap(parseFieldPath(path), guardSegments(guard.path))) {
        problems.push(`rules: "${rule.name}" removes ${path} at backup time, but ${guard.reason}; use stages [restore, export] instead`);
      }
    }
  }
  return problems;
}

/**
 * A guard as parsed segments. A guard ending in an unterminated quoted key (`metadata.annotations['velero.io`)
 * protects every key with that prefix; its last segment is then a prefix.
 */
interface GuardSegments {
  segments: readonly PathSegment[];
  lastIsPrefix: boolean;
}
const guardCache = new Map<string, GuardSegments>();
function guardSegments(path: string): GuardSegments {
  let parsed = guardCache.get(path);
  if (!parsed) {
    const open = /\['([^']*)$/.exec(path);
    parsed = open
      ? { segments: [...parseFieldPath(path.slice(0, open.index)), { key: open[1]! }], lastIsPrefix: true }
      : { segments: parseFieldPath(path), lastIsPrefix: false };
    guardCache.set(path, parsed);
  }
  return parsed;
}

/**
 * Whether removing `rule` could remove something under `guard` (or the guard itself, or a parent of it). Paths are
 * compared as parsed segments, so `['status']`, `["status"]` and `status` are the same field.
 */
function pathsOverlap(rule: readonly PathSegment[], guard: GuardSegments): boolean {
  const n = Math.min(rule.length, guard.segments.length);
  for (let i = 0; i < n; i++) {
    const r = rule[i]!;
    const g = guard.segments[i]!;
    if ("each" in r || "each" in g) continue; // a list element: any index may be the guarded one
    const prefixMatch = guard.lastIsPrefix && i === guard.segments.length - 1;
    if (prefixMatch ? !r.key.startsWith(g.key) : r.key !== g.key) return false;
  }
  return true;
}

function compileUserRule(r: UserStripRule): StripRule {
  const cond = r.when;
  return {
    name: r.name,
    kinds: r.kinds,
    stages: r.stages ?? ["restore", "export"],
    remove: r.remove,
    why: r.why ?? "added by configuration",
    origin: "config",
    ...(cond
      ? {
          when: (obj) => {
            const value = getAtPath(obj, cond.path);
            if (cond.exists !== undefined && (value !== undefined) !== cond.exists) return false;
            if (cond.equals !== undefined && JSON.stringify(value) !== JSON.stringify(cond.equals)) return false;
            if (cond.notEquals !== undefined && JSON.stringify(value) === JSON.stringify(cond.notEquals)) return false;
            return true;
          },
        }
      : {}),
  };
}

// ---- validation of untrusted YAML into the typed configuration ----

/** Top-level keys of a twinsnap rules configuration (dependency keys are validated in dependency-config.ts). */
const TOP_KEYS = ["disableRules", "exempt", "rules", "options", "dependencies", "disableDependencyRules"];

export function validateStripConfig(doc: unknown, problems: string[]): StripConfig {
  if (!isPlainObject(doc)) {
    problems.push("the configuration must be a mapping with keys " + TOP_KEYS.join(", "));
    return {};
  }
  for (const key of Object.keys(doc)) if (!TOP_KEYS.includes(key)) problems.push(`unknown key "${key}" (expected one of ${TOP_KEYS.join(", ")})`);
  const config: StripConfig = {};
  if (doc.disableRules !== undefined) config.disableRules = stringList(doc.disableRules, "disableRules", problems);
  if (doc.exempt !== undefined) {
    if (!isPlainObject(doc.exempt)) problems.push("exempt must be a mapping with kinds and objects");
    else {
      config.exempt = {};
      if (doc.exempt.kinds !== undefined) config.exempt.kinds = stringList(doc.exempt.kinds, "exempt.kinds", problems);
      if (doc.exempt.objects !== undefined) {
        if (!Array.isArray(doc.exempt.objects)) problems.push("exempt.objects must be a list");
        else
          config.exempt.objects = doc.exempt.objects.flatMap((o, i): ObjectSelector[] => {
            if (!isPlainObject(o) || typeof o.kind !== "string") {
              problems.push(`exempt.objects[${i}] needs a kind (and optionally namespace, name)`);
              return [];
            }
            return [{ kind: o.kind, ...(typeof o.namespace === "string" ? { namespace: o.namespace } : {}), ...(typeof o.name === "string" ? { name: o.name } : {}) }];
          });
      }
    }
  }
  if (doc.options !== undefined) {
    if (!isPlainObject(doc.options)) problems.push("options must be a mapping");
    else {
      config.options = {};
      for (const [k, v] of Object.entries(doc.options)) {
        if (k === "preserveNodePorts" && typeof v === "boolean") config.options.preserveNodePorts = v;
        else problems.push(`options.${k}: unknown option or wrong type (known: preserveNodePorts: boolean)`);
      }
    }
  }
  if (doc.rules !== undefined) {
    if (!Array.isArray(doc.rules)) problems.push("rules must be a list");
    else config.rules = doc.rules.flatMap((r, i) => validateUserRule(r, `rules[${i}]`, problems));
  }
  return config;
}

function validateUserRule(r: unknown, at: string, problems: string[]): UserStripRule[] {
  if (!isPlainObject(r)) {
    problems.push(`${at} must be a mapping with name, kinds, remove`);
    return [];
  }
  const before = problems.length;
  const allowed = ["name", "kinds", "stages", "remove", "when", "why"];
  for (const key of Object.keys(r)) if (!allowed.includes(key)) problems.push(`${at}: unknown key "${key}"`);
  if (typeof r.name !== "string" || !/^[a-z0-9][a-z0-9.-]*$/.test(r.name)) problems.push(`${at}.name must be a lowercase name like "my-operator-runtime-id"`);
  const kinds = r.kinds === "*" ? "*" : stringList(r.kinds, `${at}.kinds`, problems);
  const remove = stringList(r.remove, `${at}.remove`, problems);
  if (remove.length === 0) problems.push(`${at}.remove must list at least one field path`);
  for (const path of remove) {
    try {
      parseFieldPath(path);
    } catch (err) {
      problems.push(`${at}.remove: ${(err as Error).message}`);
    }
  }
  let stages: Stage[] | undefined;
  if (r.stages !== undefined) {
    stages = stringList(r.stages, `${at}.stages`, problems) as Stage[];
    for (const s of stages) if (!STAGES.includes(s)) problems.push(`${at}.stages: "${s}" is not one of ${STAGES.join(", ")}`);
  }
  let when: UserRuleCondition | undefined;
  if (r.when !== undefined) {
    if (!isPlainObject(r.when) || typeof r.when.path !== "string") problems.push(`${at}.when needs a path (and equals, notEquals or exists)`);
    else {
      try {
        parseFieldPath(r.when.path);
      } catch (err) {
        problems.push(`${at}.when: ${(err as Error).message}`);
      }
      when = { path: r.when.path };
      if (r.when.equals !== undefined) when.equals = r.when.equals as JsonValue;
      if (r.when.notEquals !== undefined) when.notEquals = r.when.notEquals as JsonValue;
      if (typeof r.when.exists === "boolean") when.exists = r.when.exists;
    }
  }
  if (problems.length > before) return [];
  return [
    {
      name: r.name as string,
      kinds: kinds as "*" | string[],
      remove,
      ...(stages ? { stages } : {}),
      ...(when ? { when } : {}),
      ...(typeof r.why === "string" ? { why: r.why } : {}),
    },
  ];
}

function stringList(value: unknown, at: string, problems: string[]): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    problems.push(`${at} must be a list of strings`);
    return [];
  }
  return value as string[];
}
