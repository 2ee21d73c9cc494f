// How a command reports: text for a person, or the same data as JSON or YAML for a script (`-o`). The data is the
// command's documented shape (in its --help); text is drawn from it, never the other way round.
import yaml from "js-yaml";

export const REPORT_FORMATS = ["text", "json", "yaml"] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export function formatReport(format: ReportFormat, data: unknown, text: () => string): string {
  if (format === "json") return `${JSON.stringify(data, null, 2)}\n`;
  if (format === "yaml") return yaml.dump(data, { noRefs: true, lineWidth: -1 });
  return text();
}
