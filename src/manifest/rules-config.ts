// One configuration for all of twinsnap's rules (the plugin's ConfigMap, `--rules FILE` on the CLI):
// stripping rules and dependency rules, validated together so every problem is reported at once.
import yaml from "js-yaml";
import { buildDependencyRules, validateDependencyConfig, type DependencyConfig } from "./dependency-config.js";
import type { DependencyRule } from "./dependency-rule.js";
import { isPlainObject } from "./object.js";
import { buildStripPolicy, DEFAULT_STRIP_POLICY, RulesConfigError, validateStripConfig, type StripConfig } from "./strip-config.js";
import type { StripPolicy } from "./strip.js";

export interface RulesConfig extends StripConfig, DependencyConfig {}

export interface Rules {
  strip: StripPolicy;
  dependencies: readonly DependencyRule[];
}

export const DEFAULT_RULES: Rules = { strip: DEFAULT_STRIP_POLICY, dependencies: buildDependencyRules() };

export function parseRulesConfig(text: string, source: string): RulesConfig {
  let doc: unknown;
  try {
    doc = yaml.load(text);
  } catch (err) {
    throw new RulesConfigError(source, [`not valid YAML: ${(err as Error).message.split("\n")[0]}`]);
  }
  if (doc === undefined || doc === null) return {};
  const problems: string[] = [];
  const strip = validateStripConfig(doc, problems);
  const deps = isPlainObject(doc) ? validateDependencyConfig(doc, problems) : {};
  if (problems.length > 0) throw new RulesConfigError(source, problems);
  return { ...strip, ...deps };
}

export function buildRules(config: RulesConfig = {}, source = "configuration"): Rules {
  return { strip: buildStripPolicy(config, source), dependencies: buildDependencyRules(config) };
}
