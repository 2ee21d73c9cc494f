// `twinsnap rules`: the stripping rules in force, as a table a reader can scan (or JSON).
import { loadRules } from "./load-rules.js";
import { formatReport, type ReportFormat } from "./report.js";

export async function rulesCommand(opts: { rulesFile?: string; output: ReportFormat }, out: (s: string) => void): Promise<number> {
  const rules = await loadRules(opts.rulesFile);
  const policy = rules.strip;
  const rows = policy.rules.map((r) => ({
    name: r.name,
    kinds: r.kinds === "*" ? "*" : r.kinds.join(","),
    stages: r.stages.join(","),
    removes: r.skip ? "(skips the object)" : [...(r.remove ?? []), ...(r.touches ?? [])].join(", "),
    why: r.why,
    origin: r.origin ?? "builtin",
  }));
  const dependencyRows = rules.dependencies.map((r) => ({
    name: r.name,
    kinds: r.kinds === "*" ? "*" : r.kinds.join(","),
    why: r.why,
    origin: r.origin ?? "builtin",
  }));
  if (opts.output !== "text") {
    out(formatReport(opts.output, { strip: rows, dependencies: dependencyRows }, () => ""));
    return 0;
  }
  out("Stripping rules (applied in this order):\n\n");
  for (const row of rows) {
    out(`${row.name}  [${row.stages}]  kinds: ${row.kinds}${row.origin === "config" ? "  (from configuration)" : ""}\n`);
    out(`    removes: ${row.removes}\n    why: ${row.why}\n\n`);
  }
  out("Dependency rules (what must exist before an object is created):\n\n");
  for (const row of dependencyRows) {
    out(`${row.name}  kinds: ${row.kinds}${row.origin === "config" ? "  (from configuration)" : ""}\n    why: ${row.why}\n\n`);
  }
  return 0;
}
