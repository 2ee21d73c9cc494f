// Test fixtures by name: Kubernetes items (test/fixtures/items) as Velero sends them.
import { existsSync, readFileSync } from "node:fs";
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

/** The plugin as a node script (bin/twinsnap.js) and as the single executable Velero runs. */
export const PLUGIN_FORMS = {
  script: join(REPO_ROOT, "bin", "twinsnap.js"),
  executable: join(REPO_ROOT, "dist", "executable", "twinsnap"),
} as const;

/** The forms the conformance suites run against: both, unless TWINSNAP_PLUGIN_UNDER_TEST names one path. */
export function pluginForms(): { label: string; command: string }[] {
  const only = process.env.TWINSNAP_PLUGIN_UNDER_TEST;
  if (only) return [{ label: only, command: only }];
  if (!existsSync(PLUGIN_FORMS.executable)) {
    throw new Error(`${PLUGIN_FORMS.executable} is missing: run "node scripts/build-executable.mjs" (npm test does)`);
  }
  return [
    { label: "node script", command: PLUGIN_FORMS.script },
    { label: "single executable", command: PLUGIN_FORMS.executable },
  ];
}

/** The plugin command for tests that exercise behaviour, not packaging: the script, unless overridden. */
export function pluginCommand(): string {
  return process.env.TWINSNAP_PLUGIN_UNDER_TEST ?? PLUGIN_FORMS.script;
}
