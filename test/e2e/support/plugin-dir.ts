// Velero's plugins directory, laid out as an installation leaves it:
// - twinsnap as its plugin image installs it (Dockerfile, target `plugin`: `cp -a /plugins/. /target/` of
//   dist/executable/), i.e. the single executable `twinsnap` and its `twinsnap-libs/` beside it;
// - velero-plugin-for-aws, as `velero install --plugins velero/velero-plugin-for-aws` puts it there.
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../../support/fixtures.js";
import { peer } from "../../support/peers.js";

export const TWINSNAP_EXECUTABLE_DIR = join(REPO_ROOT, "dist", "executable");

export interface PluginDirOptions {
  /** false: Velero with its own plugins and the AWS object store only, for side-by-side comparisons. */
  twinsnap: boolean;
}

export function makePluginDir(dir: string, opts: PluginDirOptions): string {
  mkdirSync(dir, { recursive: true });
  const aws = peer("VELERO_PLUGIN_AWS_BIN");
  copyFileSync(aws, join(dir, "velero-plugin-for-aws"));
  chmodSync(join(dir, "velero-plugin-for-aws"), statSync(aws).mode & 0o777);
  if (opts.twinsnap) {
    if (!existsSync(join(TWINSNAP_EXECUTABLE_DIR, "twinsnap"))) {
      throw new Error(`${TWINSNAP_EXECUTABLE_DIR}/twinsnap is missing: run "npm run build:executable" (npm run test:e2e does)`);
    }
    // cp -a: modes kept, so the libraries stay 0644 and Velero's plugin walk skips them.
    cpSync(TWINSNAP_EXECUTABLE_DIR, dir, { recursive: true, preserveTimestamps: true });
  }
  return dir;
}
