// `--rules FILE`: the same rules configuration the plugin reads from its ConfigMap, for the CLI.
import { readFile } from "node:fs/promises";
import { buildRules, DEFAULT_RULES, parseRulesConfig, type Rules } from "../manifest/rules-config.js";

export async function loadRules(rulesFile: string | undefined): Promise<Rules> {
  if (!rulesFile) return DEFAULT_RULES;
  return buildRules(parseRulesConfig(await readFile(rulesFile, "utf8"), rulesFile), rulesFile);
}
