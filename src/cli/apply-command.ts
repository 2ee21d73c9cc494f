// `twinsnap apply <dir|file>...`: manifests applied in dependency order with server-side apply.
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { loadClusterConnection } from "../kube/kubeconfig.js";
import { kubeApplyTarget } from "../kube/kube-apply-target.js";
import { rawClient } from "../kube/raw-client.js";
import { orderedApply, type ApplySummary } from "../kube/ordered-apply.js";
import type { KubeObject } from "../manifest/object.js";
import { loadRules } from "./load-rules.js";
import type { Rules } from "../manifest/rules-config.js";
import { stripObject } from "../manifest/strip.js";
import { parseManifests } from "../manifest/yaml.js";
import { progressLine } from "./progress.js";
import { formatReport, type ReportFormat } from "./report.js";

export interface ApplyCommandOptions {
  /** text: counts and what failed; json: the ApplySummary (counts, cycles, every outcome). */
  output?: ReportFormat;
  paths: string[];
  dryRun: boolean;
  concurrency: number;
  kubeconfig?: string;
  /** --context: the kubeconfig context to use. */
  context?: string;
  rulesFile?: string;
  env: Readonly<Record<string, string | undefined>>;
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/** Every manifest file under the paths, in a stable order. */
export async function manifestFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    if ((await stat(p)).isDirectory()) {
      const entries = (await readdir(p, { recursive: true, withFileTypes: true }))
        .filter((e) => e.isFile() && MANIFEST_FILE.test(e.name))
        .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
        .sort();
      out.push(...entries);
    } else out.push(p);
  }
  return out;
}

export async function loadManifests(paths: readonly string[], rules: Rules): Promise<{ objects: KubeObject[]; skipped: string[] }> {
  const policy = rules.strip;
  const objects: KubeObject[] = [];
  const skipped: string[] = [];
  for (const file of await manifestFiles(paths)) {
    for (const obj of parseManifests(await readFile(file, "utf8"), file)) {
      // Apply-ready whatever the source: a raw `kubectl get -o yaml` dump is cleaned like an export.
      const result = stripObject(obj, policy, { stage: "export" });
      if (result.skippedBy) skipped.push(`${obj.kind} ${obj.metadata.namespace ?? ""}/${obj.metadata.name} (${result.skippedBy})`);
      else objects.push(result.object);
    }
  }
  return { objects, skipped };
}

export async function applyCommand(opts: ApplyCommandOptions, io: { out: (s: string) => void; err: (s: string) => void; interactive?: boolean }): Promise<number> {
  const rules = await loadRules(opts.rulesFile);
  const { objects, skipped } = await loadManifests(opts.paths, rules);
  for (const s of skipped) io.err(`left out ${s}\n`);
  const kc = await loadClusterConnection({ env: opts.env, ...(opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig } : {}), ...(opts.context ? { context: opts.context } : {}) });
  const client = rawClient(kc);
  // A failure is written as it happens; the rest is a count on a terminal, and the summary at the end.
  const progress = progressLine(io);
  let done = 0;
  let failed = 0;
  const summary = await orderedApply(objects, kubeApplyTarget(client), {
    dryRun: opts.dryRun,
    concurrency: opts.concurrency,
    rules: rules.dependencies,
    onOutcome: (o) => {
      done++;
      if (o.action === "failed" || o.action === "not-attempted") {
        failed++;
        progress.print(`${o.key}: ${o.action}${o.dryRun ? " (dry run)" : ""}${o.error ? ` — ${o.error}` : ""}`);
      }
      progress.show(`applied ${done} of ${objects.length}${failed ? `, ${failed} failed` : ""}${opts.dryRun ? " (dry run)" : ""}`);
    },
  }).finally(() => (client.close(), progress.done()));
  io.out(formatReport(opts.output ?? "text", summary, () => formatSummary(summary)));
  return summary.counts.failed + summary.counts["not-attempted"] > 0 ? 1 : 0;
}

export function formatSummary(s: ApplySummary): string {
  const c = s.counts;
  const lines = [`${c.created} created, ${c.configured} configured, ${c.unchanged} unchanged, ${c.failed} failed, ${c["not-attempted"]} not attempted`];
  for (const cycle of s.cycles) lines.push(`dependency cycle (applied in a fixed order): ${cycle.join(" -> ")}`);
  for (const o of s.outcomes) if (o.action === "failed" || o.action === "not-attempted") lines.push(`  ${o.action}: ${o.key}: ${o.error}`);
  return `${lines.join("\n")}\n`;
}
