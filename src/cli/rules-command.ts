// `twinsnap rules`: the stripping rules in force, as a table a reader can scan (or JSON).
import { readFile } from "node:fs/promises";
import { buildStripPolicy, parseStripConfig } from "../manifest/strip-config.js";

export async function rulesCommand(opts: { rulesFile?: string; json: boolean }, out: (s: string) => void): Promise<number> {
  const config = opts.rulesFile ? parseStripConfig(await readFile(opts.rulesFile, "utf8"), opts.rulesFile) : {};
  const policy = buildStripPolicy(config, opts.rulesFile);
  const rows = policy.rules.map((r) => ({
    name: r.name,
    kinds: r.kinds === "*" ? "*" : r.kinds.join(","),
    stages: r.stages.join(","),
    removes: r.skip ? "(skips the object)" : [...(r.remove ?? []), ...(r.touches ?? [])].join(", "),
    why: r.why,
    origin: r.origin ?? "builtin",
  }));
  if (opts.json) {
    out(`${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  }
  for (const row of rows) {
    out(`${row.name}  [${row.stages}]  kinds: ${row.kinds}${row.origin === "config" ? "  (from configuration)" : ""}\n`);
    out(`    removes: ${row.removes}\n    why: ${row.why}\n\n`);
  }
  return 0;
}
