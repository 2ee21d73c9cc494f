// Reads a Velero plugin's configuration the way Velero's built-in plugins find theirs: a ConfigMap in
// Velero's namespace labelled `velero.io/plugin-config` and `<plugin name>` (any value), here with the
// YAML under the key `config.yaml`.
import type { PluginConfigDocument, PluginConfigReader } from "../actions/strip-policy-source.js";
import type { RawClient } from "./raw-client.js";

export const PLUGIN_CONFIG_KEY = "config.yaml";

export class PluginConfigMapError extends Error {
  override readonly name = "PluginConfigMapError";
}

export interface PluginConfigMapOptions {
  /** Connected lazily: most plugin processes live for one backup and many never need the cluster. */
  client: () => Promise<RawClient>;
  namespace: string;
  pluginName: string;
}

interface ConfigMapList {
  items: { metadata: { name: string; resourceVersion?: string }; data?: Record<string, string> }[];
}

export function pluginConfigMapReader(opts: PluginConfigMapOptions): PluginConfigReader {
  const selector = `velero.io/plugin-config,${opts.pluginName}`;
  return {
    async read(): Promise<PluginConfigDocument | undefined> {
      const client = await opts.client();
      const path = `/api/v1/namespaces/${encodeURIComponent(opts.namespace)}/configmaps?labelSelector=${encodeURIComponent(selector)}`;
      const list = await client.get<ConfigMapList>(path);
      const items = list?.items ?? [];
      if (items.length === 0) return undefined;
      if (items.length > 1) {
        const names = items.map((cm) => cm.metadata.name).join(", ");
        throw new PluginConfigMapError(`more than one ConfigMap in ${opts.namespace} matches "${selector}" (${names}); keep one`);
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
