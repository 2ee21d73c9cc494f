// Turns the user's plugin configuration into the rules the actions use (stripping and dependency rules),
// re-reading it at most every `ttlMs`. A broken configuration never costs an item: it is reported (once per
// version) and the built-in rules apply, so the backup keeps every object and says what to fix.
import type { Logger } from "../log/logger.js";
import { buildRules, DEFAULT_RULES, parseRulesConfig, type Rules } from "../manifest/rules-config.js";
import { RulesConfigError } from "../manifest/strip-config.js";

export type RulesSource = () => Promise<Rules>;

export interface PluginConfigDocument {
  /** The YAML text of the configuration. */
  text: string;
  /** Where it came from, for messages: "ConfigMap velero/twinsnap-config key config.yaml". */
  origin: string;
  /** Changes whenever the text may have changed (a resourceVersion, an mtime). */
  version: string;
}

export interface PluginConfigReader {
  /** undefined when the user has no configuration. */
  read(): Promise<PluginConfigDocument | undefined>;
}

export interface CachedRulesOptions {
  reader: PluginConfigReader | undefined;
  log: Logger;
  ttlMs?: number;
  now?: () => number;
}

export function cachedRules(opts: CachedRulesOptions): RulesSource {
  const ttlMs = opts.ttlMs ?? 10_000;
  const now = opts.now ?? Date.now;
  let current: { rules: Rules; version: string; at: number } | undefined;
  let inflight: Promise<Rules> | undefined;
  const reported = new Set<string>();
  const reportOnce = (key: string, report: () => void) => {
    if (!reported.has(key)) {
      reported.add(key);
      report();
    }
  };

  const refresh = async (): Promise<Rules> => {
    let doc: PluginConfigDocument | undefined;
    try {
      doc = await opts.reader!.read();
    } catch (err) {
      reportOnce(`read:${(err as Error).message}`, () =>
        opts.log.warn("cannot read twinsnap's plugin configuration; using the last known rules", { error: (err as Error).message }),
      );
      const fallback = current?.rules ?? DEFAULT_RULES;
      current = { rules: fallback, version: current?.version ?? "", at: now() };
      return fallback;
    }
    const version = doc ? `${doc.origin}@${doc.version}` : "";
    if (current && current.version === version) {
      current.at = now();
      return current.rules;
    }
    let rules = DEFAULT_RULES;
    if (doc) {
      try {
        rules = buildRules(parseRulesConfig(doc.text, doc.origin), doc.origin);
        opts.log.info("loaded twinsnap plugin configuration", { origin: doc.origin, stripRules: rules.strip.rules.length, dependencyRules: rules.dependencies.length });
      } catch (err) {
        if (!(err instanceof RulesConfigError)) throw err;
        // A real error for the operator to fix: logged at error level, so Velero marks the backup PartiallyFailed.
        reportOnce(`config:${version}`, () => opts.log.error(`${err.message}\nthe built-in rules apply until it is fixed`));
      }
    }
    current = { rules, version, at: now() };
    return rules;
  };

  return async () => {
    if (!opts.reader) return DEFAULT_RULES;
    if (current && now() - current.at < ttlMs) return current.rules;
    inflight ??= refresh().finally(() => (inflight = undefined));
    return inflight;
  };
}
