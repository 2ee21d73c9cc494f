// `twinsnap strip`: clean manifests offline with the same rules the Velero plugin uses.
import { readFile } from "node:fs/promises";
import { loadRules } from "./load-rules.js";
import { stripObject } from "../manifest/strip.js";
import { STAGES, type Stage } from "../manifest/strip-rule.js";
import { parseManifests, toYamlStream } from "../manifest/yaml.js";
import { objectRef } from "../manifest/object.js";
import { UsageError } from "./usage-error.js";

export interface StripCommandOptions {
  files: string[];
  stage: string;
  rulesFile?: string;
  verbose: boolean;
}

export async function stripCommand(opts: StripCommandOptions, io: { stdin: () => Promise<string>; out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  if (!STAGES.includes(opts.stage as Stage)) throw new UsageError(`--stage must be one of ${STAGES.join(", ")}`);
  const rules = await loadRules(opts.rulesFile);
  const policy = rules.strip;
  const sources = opts.files.length === 0 ? ["-"] : opts.files;
  const kept = [];
  for (const file of sources) {
    const text = file === "-" ? await io.stdin() : await readFile(file, "utf8");
    for (const obj of parseManifests(text, file === "-" ? "standard input" : file)) {
      const result = stripObject(obj, policy, { stage: opts.stage as Stage });
      if (result.skippedBy) {
        io.err(`skipped ${objectRef(obj)} (${result.skippedBy})\n`);
        continue;
      }
      if (opts.verbose) for (const r of result.removed) io.err(`${objectRef(obj)}: removed ${r.path} (${r.rule})\n`);
      kept.push(result.object);
    }
  }
  io.out(toYamlStream(kept));
  return 0;
}
