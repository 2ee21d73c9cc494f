// Field paths name the parts of an object a rule removes, in a notation a reader can scan:
//   spec.clusterIP                                  a field
//   spec.ports[*].nodePort                          a field in every element of a list
//   metadata.annotations['pv.kubernetes.io/bind-completed']   a key that contains dots
import { isPlainObject } from "./object.js";

export type PathSegment = { key: string } | { each: true };

export class InvalidFieldPathError extends Error {
  override readonly name = "InvalidFieldPathError";
  constructor(readonly path: string, readonly reason: string) {
    super(`invalid field path "${path}": ${reason}`);
  }
}

const cache = new Map<string, PathSegment[]>();

export function parseFieldPath(path: string): PathSegment[] {
  const cached = cache.get(path);
  if (cached) return cached;
  const segments: PathSegment[] = [];
  let i = 0;
  const fail = (reason: string): never => {
    throw new InvalidFieldPathError(path, reason);
  };
  if (path.trim() === "") fail("empty");
  while (i < path.length) {
    const ch = path[i];
    if (ch === ".") {
      if (i === 0 || i === path.length - 1 || path[i + 1] === "." ) fail(`unexpected "." at ${i}`);
      i++;
      continue;
    }
    if (ch === "[") {
      if (path.startsWith("[*]", i)) {
        segments.push({ each: true });
        i += 3;
        continue;
      }
      const quote = path[i + 1];
      if (quote !== "'" && quote !== '"') fail(`expected [*] or a quoted key at ${i}`);
      const end = path.indexOf(`${quote}]`, i + 2);
      if (end < 0) fail(`unterminated quoted key at ${i}`);
      segments.push({ key: path.slice(i + 2, end) });
      i = end + 2;
      continue;
    }
    let end = i;
    while (end < path.length && path[end] !== "." && path[end] !== "[") end++;
    const key = path.slice(i, end);
    if (!/^[A-Za-z0-9_$-]+$/.test(key)) fail(`bad field name "${key}"`);
    segments.push({ key });
    i = end;
  }
  cache.set(path, segments);
  return segments;
}

/** Formats concrete segments back into the notation, for reports. */
export function formatFieldPath(segments: readonly (string | number)[]): string {
  return segments
    .map((s, n) =>
      typeof s === "number" ? `[${s}]` : /^[A-Za-z0-9_$-]+$/.test(s) ? (n === 0 ? s : `.${s}`) : `['${s}']`,
    )
    .join("");
}

/**
 * Removes every value the path names. Returns the concrete paths removed (empty if nothing was there).
 * Parents left empty by the removal stay: an empty `annotations: {}` is harmless and keeps diffs small.
 */
export function removeAtPath(target: unknown, path: string): string[] {
  const removed: string[] = [];
  const walk = (node: unknown, segs: readonly PathSegment[], at: (string | number)[]): void => {
    const [head, ...rest] = segs;
    if (!head) return;
    if ("each" in head) {
      if (!Array.isArray(node)) return;
      if (rest.length === 0) {
        if (node.length > 0) {
          removed.push(formatFieldPath([...at]) + "[*]");
          node.length = 0;
        }
        return;
      }
      node.forEach((el, idx) => walk(el, rest, [...at, idx]));
      return;
    }
    if (!isPlainObject(node) || !Object.prototype.hasOwnProperty.call(node, head.key)) return;
    if (rest.length === 0) {
      delete node[head.key];
      removed.push(formatFieldPath([...at, head.key]));
      return;
    }
    walk(node[head.key], rest, [...at, head.key]);
  };
  walk(target, parseFieldPath(path), []);
  return removed;
}

/** Reads the first value the path names (lists: the first element that has it). */
export function getAtPath(target: unknown, path: string): unknown {
  const walk = (node: unknown, segs: readonly PathSegment[]): unknown => {
    const [head, ...rest] = segs;
    if (!head) return node;
    if ("each" in head) {
      if (!Array.isArray(node)) return undefined;
      for (const el of node) {
        const found = walk(el, rest);
        if (found !== undefined) return found;
      }
      return undefined;
    }
    if (!isPlainObject(node)) return undefined;
    return walk(node[head.key], rest);
  };
  return walk(target, parseFieldPath(path));
}

/** A concrete path with list indices generalised, for matching against what a user wrote: a[0].b -> a[*].b */
export function generalizeFieldPath(path: string): string {
  return path.replace(/\[\d+\]/g, "[*]");
}

/** Whether a rule's path lies at or under a preserved path (both parsed; `[0]` and `[*]` alike). */
export function isUnderPath(path: readonly PathSegment[], parent: readonly PathSegment[]): boolean {
  if (path.length < parent.length) return false;
  return parent.every((p, i) => {
    const s = path[i]!;
    return "each" in p || "each" in s ? "each" in p && "each" in s : p.key === s.key;
  });
}
