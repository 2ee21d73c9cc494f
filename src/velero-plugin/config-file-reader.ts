// Plugin configuration from a file (TWINSNAP_PLUGIN_CONFIG_FILE): for running the plugin outside a
// cluster, and for tests. Inside Velero the ConfigMap reader is used instead.
import { readFile, stat } from "node:fs/promises";
import type { PluginConfigDocument, PluginConfigReader } from "../actions/rules-source.js";

export function configFileReader(path: string): PluginConfigReader {
  return {
    async read(): Promise<PluginConfigDocument> {
      const info = await stat(path);
      return { text: await readFile(path, "utf8"), origin: `file ${path}`, version: `${info.mtimeMs}:${info.size}` };
    },
  };
}
