// Reads twinsnap's configuration the way Velero's built-in plugins find theirs: a ConfigMap in Velero's
// namespace labelled `velero.io/plugin-config` and with the name of a twinsnap action as a label key
// (`twinsnap.dev/strip-runtime-fields` or `twinsnap.dev/restore-order`, any value), YAML under `config.yaml`.
// One ConfigMap configures all of twinsnap's actions.
import type { PluginConfigDocument, PluginConfigReader } from "../actions/rules-source.js";
import type { RawClient } from "./raw-client.js";

export const PLUGIN_CONFIG_KEY = "config.yaml";

export class PluginConfigMapError extends Error {
  override readonly name = "PluginConfigMapError";
}

export interface PluginConfigMapOptions {
  /** Connected lazily: most plugin processes live for one backup and many never need the cluster. */
  client: () => Promise<RawClient>;
  namespace: string;
  /** Label keys that mark a ConfigMap as twinsnap's: the names of its actions. */
  pluginNames: readonly string[];
}

interface ConfigMapList {
  items: { metadata: { name: string; resourceVersion?: string; labels?: Record<string, string> }; data?: Record<string, string> }[];
}

export function pluginConfigMapReader(opts: PluginConfigMapOptions): PluginConfigReader {
  const selector = "velero.io/plugin-config";
  return {
    async read(): Promise<PluginConfigDocument | undefined> {
      const client = await opts.client();
      const path = `/api/v1/namespaces/${encodeURIComponent(opts.namespace)}/configmaps?labelSelector=${encodeURIComponent(selector)}`;
      const list = await client.get<ConfigMapList>(path);
      // A label selector cannot say "any of these keys": filter here.
      const items = (list?.items ?? []).filter((cm) => opts.pluginNames.some((n) => cm.metadata.labels?.[n] !== undefined));
      if (items.length === 0) return undefined;
      if (items.length > 1) {
        const names = items.map((cm) => cm.metadata.name).join(", ");
        throw new PluginConfigMapError(`more than one twinsnap ConfigMap in ${opts.namespace} (${names}); keep one`);
      }
      const cm = items[0]!;
      const where = `ConfigMap ${opts.namespace}/${cm.metadata.name}`;
      const text = cm.data?.[PLUGIN_CONFIG_KEY];
      if (text === undefined) {
        throw new PluginConfigMapError(`${where} has no key "${PLUGIN_CONFIG_KEY}" (it has: ${Object.keys(cm.data ?? {}).join(", ") || "nothing"})`);
      }
      return { text, origin: `${where} key ${PLUGIN_CONFIG_KEY}`, version: cm.metadata.resourceVersion ?? "" };
    },
  };
}
