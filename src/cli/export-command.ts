// `twinsnap export`: clean manifests in a readable tree, from a live cluster or, offline, from a Velero backup
// tarball. Both go through the same stripping rules and layout, so the same objects give the same bytes.
import { open } from "node:fs/promises";
import { exportPath } from "../manifest/export-layout.js";
import { resourceFilter, type ResourceFilterOptions } from "../manifest/resource-filter.js";
import { loadRules } from "./load-rules.js";
import { stripObject } from "../manifest/strip.js";
import { toYaml } from "../manifest/yaml.js";
import { readBackupItems } from "../velero/backup-archive.js";
import { generatedBy } from "../manifest/export-selection.js";
import type { KubeObject } from "../manifest/object.js";
import { listLiveObjects } from "../kube/live-export.js";
import { loadClusterConnection } from "../kube/kubeconfig.js";
import { rawClient } from "../kube/raw-client.js";
import { ExportTreeWriter } from "./export-writer.js";

export interface ExportOptions extends ResourceFilterOptions {
  out: string;
  rulesFile?: string;
  force: boolean;
}

export interface ExportSummary {
  exported: number;
  skippedByRules: number;
  filtered: number;
  /** Live exports: objects the target cluster makes itself (see export-selection.ts). */
  generated?: number;
}

interface SourceItem {
  groupResource: string;
  namespace: string;
  object: KubeObject;
}

/** Where export reports: `transient` lines are progress (a terminal shows them in place, a log never). */
export type ExportProgress = (line: string, transient?: boolean) => void;

export async function exportFromBackup(opts: ExportOptions & { fromBackup: string }, progress: ExportProgress): Promise<ExportSummary> {
  // Opened here, not lazily: a missing file is a plain error now, not an unhandled stream error later.
  const file = await open(opts.fromBackup, "r");
  try {
    return await exportItems(readBackupItems(file.createReadStream({ autoClose: false })), opts, progress);
  } finally {
    await file.close();
  }
}

export async function exportFromCluster(
  opts: ExportOptions & { kubeconfig?: string; context?: string; includeGenerated: boolean; env: Readonly<Record<string, string | undefined>> },
  progress: ExportProgress,
): Promise<ExportSummary> {
  const kc = await loadClusterConnection({ env: opts.env, ...(opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig } : {}), ...(opts.context ? { context: opts.context } : {}) });
  const filter = resourceFilter(opts);
  let generated = 0;
  const client = rawClient(kc);
  async function* live(): AsyncGenerator<SourceItem> {
    for await (const { groupResource, object } of listLiveObjects(client, filter)) {
      if (!opts.includeGenerated && generatedBy(object)) {
        generated++;
        continue;
      }
      yield { groupResource, namespace: object.metadata.namespace ?? "", object };
    }
  }
  try {
    const summary = await exportItems(live(), opts, progress);
    return { ...summary, generated };
  } finally {
    client.close();
  }
}

async function exportItems(items: AsyncIterable<SourceItem>, opts: ExportOptions, progress: ExportProgress): Promise<ExportSummary> {
  const rules = await loadRules(opts.rulesFile);
  const policy = rules.strip;
  const filter = resourceFilter(opts);
  const writer = await ExportTreeWriter.open(opts.out, { force: opts.force });
  const summary: ExportSummary = { exported: 0, skippedByRules: 0, filtered: 0 };
  try {
    for await (const item of items) {
      if (!filter.includes(item.groupResource, item.namespace)) {
        summary.filtered++;
        continue;
      }
      const result = stripObject(item.object, policy, { stage: "export" });
      if (result.skippedBy) {
        summary.skippedByRules++;
        continue;
      }
      await writer.write(exportPath(item.groupResource, result.object), toYaml(result.object));
      summary.exported++;
      if (summary.exported % 50 === 0) progress(`exported ${summary.exported} objects...`, true);
    }
    await writer.commit();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  progress(`exported ${summary.exported} objects to ${opts.out} (${summary.skippedByRules} left out by rules, ${summary.filtered} filtered)`);
  return summary;
}
