// Durations on the command line, as Go programs (Velero, kubectl) write them.
import { UsageError } from "./usage-error.js";

/** "30s", "2m", "1h", "500ms" or "0" as milliseconds (for --share-window). */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag} "${text}" is not a duration (examples: 0, 30s, 2m, 1h, 500ms)`);
  const n = Number(m[1]);
  if (n !== 0 && !m[2]) throw new UsageError(`${flag} "${text}" needs a unit (examples: 30s, 2m, 1h, 500ms)`);
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "ms") as "ms" | "s" | "m" | "h"];
}
