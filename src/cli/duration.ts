// Durations on the command line, the way Velero and Kubernetes users write them: "90s", "10m", "1h30m", or a
// plain number of seconds.
import { UsageError } from "./usage-error.js";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of `value`; a UsageError naming the flag for anything else (negative, empty, unknown unit). */
export function parseDuration(flag: string, value: string): number {
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (text === "" || parts.map((p) => p[0]).join("") !== text) {
    throw new UsageError(`${flag} must be a duration like 30s, 10m, 1h30m or a number of seconds, not "${value}"`);
  }
  return Math.round(parts.reduce((ms, p) => ms + Number(p[1]) * UNIT_MS[p[2]!]!, 0));
}
