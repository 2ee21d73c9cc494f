// Flag values checked at the entry point, so a typo is a usage error (exit code 2) and never runs with NaN, a
// silently changed number or a different unit.
import type { Member } from "../etcd/restore.js";
import { UsageError } from "./usage-error.js";

/** A whole number >= 1, written as digits only ("8", not "8.5", "0x8", "8k" or "abc"). */
export function parsePositiveInteger(flag: string, text: string): number {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, not "${text}"`);
  return n;
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A Go duration ("1h30m", "90s", "1.5h", "500ms", "0") in milliseconds, as Velero and kubectl take them.
 * `bareSeconds`: a plain number counts as seconds (flags that took seconds before Go durations, e.g. --timeout 300).
 */
export function parseDuration(flag: string, text: string, opts: { bareSeconds?: boolean } = {}): number {
  const t = text.trim();
  if (opts.bareSeconds && /^\d+$/.test(t)) return Number(t) * 1000;
  if (t === "0") return 0;
  if (/^\d+(\.\d+)?$/.test(t)) throw new UsageError(`${flag} "${text}" needs a unit (examples: 30s, 2m, 1h, 500ms)`);
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let ms = 0;
  let at = 0;
  while (at < t.length) {
    part.lastIndex = at;
    const m = part.exec(t);
    if (!m) break;
    ms += Number(m[1]) * UNIT_MS[m[2]!]!;
    at = part.lastIndex;
  }
  if (t === "" || at !== t.length) {
    throw new UsageError(`${flag} "${text}" is not a duration (examples: 0, 30s, 2m, 1h30m, 500ms${opts.bareSeconds ? "; a plain number is seconds" : ""})`);
  }
  return ms;
}

/** An etcd endpoint with or without scheme ("127.0.0.1:2379" is http://127.0.0.1:2379, as etcdctl takes it). */
export function parseEndpoint(flag: string, text: string): string {
  const t = text.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(t) ? t : `http://${t}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`${flag}: "${text}" is not an endpoint (examples: https://127.0.0.1:2379, 10.0.0.1:2379, https://[fd00::1]:2379)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`${flag}: "${text}" must be http:// or https://`);
  if (!url.port) throw new UsageError(`${flag}: "${text}" needs a port (etcd's client port is usually 2379)`);
  if (url.pathname !== "/" || url.search || url.hash) throw new UsageError(`${flag}: "${text}" must be scheme://host:port, without a path`);
  return `${url.protocol}//${url.host}`;
}

/** A comma-separated endpoint list; "none" stays as it is (a managed control plane). */
export function parseEndpoints(flag: string, text: string): string[] {
  const list = text.split(",").map((e) => e.trim()).filter(Boolean);
  if (list.length === 0) throw new UsageError(`${flag} is empty`);
  if (list.length === 1 && list[0] === "none") return list;
  return list.map((e) => parseEndpoint(flag, e));
}

/** --initial-cluster a=URL,b=URL, as etcd takes it: every member and its peer URL. */
export function parseCluster(spec: string): Member[] {
  return spec.split(",").map((entry) => {
    const eq = entry.indexOf("=");
    if (eq <= 0) throw new UsageError(`--initial-cluster entries look like name=https://10.0.0.1:2380, not "${entry}"`);
    return { name: entry.slice(0, eq).trim(), peerUrl: entry.slice(eq + 1).trim() };
  });
}
