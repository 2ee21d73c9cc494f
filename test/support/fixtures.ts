// Test fixtures by name: Kubernetes items (test/fixtures/items) as Velero sends them.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { KubeObject } from "../../src/manifest/object.js";

/** The repository root, from dist/test/support or test/support. */
export const REPO_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!dir.endsWith("/dist") && dir !== "/") dir = dirname(dir);
  return dir === "/" ? join(dirname(fileURLToPath(import.meta.url)), "..", "..") : dirname(dir);
})();

export function fixture(name: string): KubeObject {
  return JSON.parse(readFileSync(join(REPO_ROOT, "test", "fixtures", "items", `${name}.json`), "utf8")) as KubeObject;
}

/** The plugin executable under test: the single executable when TWINSNAP_PLUGIN_UNDER_TEST names it. */
export function pluginCommand(): string {
  return process.env.TWINSNAP_PLUGIN_UNDER_TEST ?? join(REPO_ROOT, "bin", "twinsnap.js");
}
