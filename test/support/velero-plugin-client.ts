// Runs test/peers/velero-plugin-client: a Go program that loads plugins from a directory with Velero's own
// client code (pkg/plugin/clientmgmt, go-plugin), exactly as the Velero server does, and runs a script of calls.
import { execFile } from "node:child_process";
import { mkdtempSync, mkdirSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { peer } from "./peers.js";

export type ClientResult = Record<string, any> & { op: string; ok: boolean; error?: string };

/** A plugins directory holding the plugin under test, as Velero's plugins directory would. */
export function pluginDir(command: string, name = "twinsnap"): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), "twinsnap-plugins-"));
  mkdirSync(join(dir, "twinsnap.dev"));
  const path = join(dir, "twinsnap.dev", name);
  symlinkSync(command, path);
  return { dir, path };
}

export async function runVeleroClient(dir: string, calls: object[], env: Record<string, string> = {}): Promise<{ results: ClientResult[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      peer("VELERO_PLUGIN_CLIENT_BIN"),
      ["--plugin-dir", dir, "--log-level", "info"],
      { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && !stdout) return reject(new Error(`velero-plugin-client failed: ${err.message}\n${stderr}`));
        try {
          resolve({ results: (JSON.parse(stdout) as { results: ClientResult[] }).results, stderr });
        } catch (e) {
          reject(new Error(`velero-plugin-client printed no results (${(e as Error).message}):\n${stdout}\n${stderr}`));
        }
      },
    );
    child.stdin!.end(JSON.stringify({ calls }));
  });
}
