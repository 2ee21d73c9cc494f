// User configuration of dependency rules, in the same YAML as the stripping rules:
//   disableDependencyRules: [autoscaler-needs-target]
//   dependencies:
//     - name: widget-needs-gadget
//       kinds: [example.com/Widget]
//       needs:
//         - { kind: example.com/Gadget, name: spec.gadgetRef, clusterScoped: true, readiness: exists }
// `name` (and optional `namespace`) are field paths read from the object; a namespaced dependency defaults
// to the object's own namespace.
import { getAtPath, parseFieldPath } from "./field-path.js";
import { isPlainObject } from "./object.js";
import type { DependencyRef, DependencyRule, Readiness } from "./dependency-rule.js";
import { BUILTIN_DEPENDENCY_RULES } from "./dependency-rules.js";

export interface UserDependency {
  /** Qualified kind of what is needed: "example.com/Gadget", "ConfigMap". */
  kind: string;
  /** Field path of the needed object's name in the dependent object. */
  name: string;
  namespace?: string;
  clusterScoped?: boolean;
  readiness?: Readiness;
}

export interface UserDependencyRule {
  name: string;
  kinds: string[] | "*";
  needs: UserDependency[];
  why?: string;
}

export interface DependencyConfig {
  disableDependencyRules?: string[];
  dependencies?: UserDependencyRule[];
}

const READINESS: readonly Readiness[] = ["exists", "established", "active", "serving"];

export function validateDependencyConfig(doc: Record<string, unknown>, problems: string[]): DependencyConfig {
  const config: DependencyConfig = {};
  const builtin = new Set(BUILTIN_DEPENDENCY_RULES.map((r) => r.name));
  if (doc.disableDependencyRules !== undefined) {
    const list = doc.disableDependencyRules;
    if (!Array.isArray(list) || list.some((v) => typeof v !== "string")) problems.push("disableDependencyRules must be a list of strings");
    else {
      for (const n of list as string[]) if (!builtin.has(n)) problems.push(`disableDependencyRules: no built-in dependency rule is named "${n}"`);
      config.disableDependencyRules = list as string[];
    }
  }
  if (doc.dependencies !== undefined) {
    if (!Array.isArray(doc.dependencies)) problems.push("dependencies must be a list");
    else config.dependencies = doc.dependencies.flatMap((r, i) => validateRule(r, `dependencies[${i}]`, builtin, problems));
  }
  return config;
}

function validateRule(r: unknown, at: string, builtin: Set<string>, problems: string[]): UserDependencyRule[] {
  if (!isPlainObject(r)) {
    problems.push(`${at} must be a mapping with name, kinds, needs`);
    return [];
  }
  const before = problems.length;
  for (const key of Object.keys(r)) if (!["name", "kinds", "needs", "why"].includes(key)) problems.push(`${at}: unknown key "${key}"`);
  if (typeof r.name !== "string" || !/^[a-z0-9][a-z0-9.-]*$/.test(r.name)) problems.push(`${at}.name must be a lowercase name like "widget-needs-gadget"`);
  else if (builtin.has(r.name)) problems.push(`${at}.name "${r.name}" is the name of a built-in dependency rule`);
  const kinds = r.kinds === "*" ? "*" : r.kinds;
  if (kinds !== "*" && (!Array.isArray(kinds) || kinds.some((k) => typeof k !== "string"))) problems.push(`${at}.kinds must be a list of qualified kinds or "*"`);
  const needs: UserDependency[] = [];
  if (!Array.isArray(r.needs) || r.needs.length === 0) problems.push(`${at}.needs must list at least one dependency`);
  else
    r.needs.forEach((n, j) => {
      const where = `${at}.needs[${j}]`;
      if (!isPlainObject(n) || typeof n.kind !== "string" || typeof n.name !== "string") {
        problems.push(`${where} needs kind (a qualified kind) and name (a field path)`);
        return;
      }
      for (const path of [n.name, n.namespace].filter((p): p is string => typeof p === "string")) {
        try {
          parseFieldPath(path);
        } catch (err) {
          problems.push(`${where}: ${(err as Error).message}`);
        }
      }
      if (n.readiness !== undefined && !READINESS.includes(n.readiness as Readiness)) problems.push(`${where}.readiness must be one of ${READINESS.join(", ")}`);
      needs.push({
        kind: n.kind,
        name: n.name,
        ...(typeof n.namespace === "string" ? { namespace: n.namespace } : {}),
        ...(n.clusterScoped === true ? { clusterScoped: true } : {}),
        ...(n.readiness !== undefined ? { readiness: n.readiness as Readiness } : {}),
      });
    });
  if (problems.length > before) return [];
  return [{ name: r.name as string, kinds: kinds as string[] | "*", needs, ...(typeof r.why === "string" ? { why: r.why } : {}) }];
}

/** Built-in dependency rules (minus disabled ones) followed by the user's. */
export function buildDependencyRules(config: DependencyConfig = {}): DependencyRule[] {
  const disabled = new Set(config.disableDependencyRules ?? []);
  return [...BUILTIN_DEPENDENCY_RULES.filter((r) => !disabled.has(r.name)), ...(config.dependencies ?? []).map(compile)];
}

function compile(rule: UserDependencyRule): DependencyRule {
  return {
    name: rule.name,
    kinds: rule.kinds,
    why: rule.why ?? "added by configuration",
    origin: "config",
    needs: (obj) =>
      rule.needs.flatMap((n): DependencyRef[] => {
        const name = getAtPath(obj, n.name);
        if (typeof name !== "string" || name === "") return [];
        const ns = n.clusterScoped ? "" : n.namespace !== undefined ? getAtPath(obj, n.namespace) : obj.metadata.namespace ?? "";
        const slash = n.kind.lastIndexOf("/");
        return [{ group: slash < 0 ? "" : n.kind.slice(0, slash), kind: slash < 0 ? n.kind : n.kind.slice(slash + 1), namespace: typeof ns === "string" ? ns : "", name, readiness: n.readiness ?? "exists" }];
      }),
  };
}
