// Turns the user's plugin configuration into the stripping policy the actions use, re-reading it at most
// every `ttlMs`. A broken configuration never costs an item: it is reported (once per version) and the
// built-in rules apply, so the backup keeps every object and says what to fix.
import type { Logger } from "../log/logger.js";
import { buildStripPolicy, DEFAULT_STRIP_POLICY, parseStripConfig, StripConfigError } from "../manifest/strip-config.js";
import type { StripPolicy } from "../manifest/strip.js";
import type { StripPolicySource } from "./strip-runtime-fields.js";

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

export interface CachedPolicyOptions {
  reader: PluginConfigReader | undefined;
  log: Logger;
  ttlMs?: number;
  now?: () => number;
}

export function cachedStripPolicy(opts: CachedPolicyOptions): StripPolicySource {
  const ttlMs = opts.ttlMs ?? 10_000;
  const now = opts.now ?? Date.now;
  let current: { policy: StripPolicy; version: string; at: number } | undefined;
  let inflight: Promise<StripPolicy> | undefined;
  const reported = new Set<string>();
  const reportOnce = (key: string, report: () => void) => {
    if (!reported.has(key)) {
      reported.add(key);
      report();
    }
  };

  const refresh = async (): Promise<StripPolicy> => {
    let doc: PluginConfigDocument | undefined;
    try {
      doc = await opts.reader!.read();
    } catch (err) {
      reportOnce(`read:${(err as Error).message}`, () =>
        opts.log.warn("cannot read twinsnap's plugin configuration; using the last known rules", { error: (err as Error).message }),
      );
      const fallback = current?.policy ?? DEFAULT_STRIP_POLICY;
      current = { policy: fallback, version: current?.version ?? "", at: now() };
      return fallback;
    }
    const version = doc ? `${doc.origin}@${doc.version}` : "";
    if (current && current.version === version) {
      current.at = now();
      return current.policy;
    }
    let policy = DEFAULT_STRIP_POLICY;
    if (doc) {
      try {
        policy = buildStripPolicy(parseStripConfig(doc.text, doc.origin), doc.origin);
        opts.log.info("loaded twinsnap plugin configuration", { origin: doc.origin, rules: policy.rules.length });
      } catch (err) {
        if (!(err instanceof StripConfigError)) throw err;
        // A real error for the operator to fix: logged at error level, so Velero marks the backup PartiallyFailed.
        reportOnce(`config:${version}`, () => opts.log.error(`${err.message}\nthe built-in rules apply until it is fixed`));
      }
    }
    current = { policy, version, at: now() };
    return policy;
  };

  return async () => {
    if (!opts.reader) return DEFAULT_STRIP_POLICY;
    if (current && now() - current.at < ttlMs) return current.policy;
    inflight ??= refresh().finally(() => (inflight = undefined));
    return inflight;
  };
}
