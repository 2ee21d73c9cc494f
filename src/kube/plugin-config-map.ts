// Reads a Velero plugin's configuration the way Velero's built-in plugins find theirs: a ConfigMap in
// Velero's namespace labelled `velero.io/plugin-config` and `<plugin name>` (any value), here with the
// YAML under the key `config.yaml`.
import type { KubeConfig } from "@kubernetes/client-node";
import type { PluginConfigDocument, PluginConfigReader } from "../actions/strip-policy-source.js";

export const PLUGIN_CONFIG_KEY = "config.yaml";

export class PluginConfigMapError extends Error {
  override readonly name = "PluginConfigMapError";
}

export interface PluginConfigMapOptions {
  /** Loaded lazily: @kubernetes/client-node is large and most plugin processes live for one backup. */
  kubeConfig: () => Promise<KubeConfig>;
  namespace: string;
  pluginName: string;
}

export function pluginConfigMapReader(opts: PluginConfigMapOptions): PluginConfigReader {
  const selector = `velero.io/plugin-config,${opts.pluginName}`;
  return {
    async read(): Promise<PluginConfigDocument | undefined> {
      const k8s = await import("@kubernetes/client-node");
      const core = (await opts.kubeConfig()).makeApiClient(k8s.CoreV1Api);
      const list = await core.listNamespacedConfigMap({ namespace: opts.namespace, labelSelector: selector });
      if (list.items.length === 0) return undefined;
      if (list.items.length > 1) {
        const names = list.items.map((cm) => cm.metadata?.name).join(", ");
        throw new PluginConfigMapError(`more than one ConfigMap in ${opts.namespace} matches "${selector}" (${names}); keep one`);
      }
      const cm = list.items[0]!;
      const where = `ConfigMap ${opts.namespace}/${cm.metadata?.name ?? "?"}`;
      const text = cm.data?.[PLUGIN_CONFIG_KEY];
      if (text === undefined) {
        throw new PluginConfigMapError(`${where} has no key "${PLUGIN_CONFIG_KEY}" (it has: ${Object.keys(cm.data ?? {}).join(", ") || "nothing"})`);
      }
      return { text, origin: `${where} key ${PLUGIN_CONFIG_KEY}`, version: cm.metadata?.resourceVersion ?? "" };
    },
  };
}
