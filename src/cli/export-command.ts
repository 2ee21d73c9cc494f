// `twinsnap export --from-backup <backup.tar.gz> --out DIR`: a Velero backup as a tree of clean manifests,
// offline. (Export from a live cluster uses the same layout and rules.)
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { exportPath } from "../manifest/export-layout.js";
import { resourceFilter, type ResourceFilterOptions } from "../manifest/resource-filter.js";
import { buildStripPolicy, parseStripConfig } from "../manifest/strip-config.js";
import { stripObject } from "../manifest/strip.js";
import { toYaml } from "../manifest/yaml.js";
import { readBackupItems } from "../velero/backup-archive.js";
import { ExportTreeWriter } from "./export-writer.js";

export interface ExportOptions extends ResourceFilterOptions {
  fromBackup: string;
  out: string;
  rulesFile?: string;
  force: boolean;
}

export interface ExportSummary {
  exported: number;
  skippedByRules: number;
  filtered: number;
}

export async function exportFromBackup(opts: ExportOptions, progress: (line: string) => void): Promise<ExportSummary> {
  const config = opts.rulesFile ? parseStripConfig(await readFile(opts.rulesFile, "utf8"), opts.rulesFile) : {};
  const policy = buildStripPolicy(config, opts.rulesFile);
  const filter = resourceFilter(opts);
  const writer = await ExportTreeWriter.open(opts.out, { force: opts.force });
  const summary: ExportSummary = { exported: 0, skippedByRules: 0, filtered: 0 };
  try {
    for await (const item of readBackupItems(createReadStream(opts.fromBackup))) {
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
      if (summary.exported % 500 === 0) progress(`exported ${summary.exported} objects...`);
    }
    await writer.commit();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  progress(`exported ${summary.exported} objects to ${opts.out} (${summary.skippedByRules} left out by rules, ${summary.filtered} filtered)`);
  return summary;
}
