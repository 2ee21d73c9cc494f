// JSON text <-> objects without changing a number. Kubernetes objects carry int64 fields and custom resources
// carry whatever their authors chose: `9223372036854775807` read by JSON.parse comes back as
// `9223372036854776000`, and `1.50` as `1.5`. A backup tool must give back what it was given.
//
// Why lossless-json (and not a reviver or bigint): it is the only widely used reader that hands over the number's
// own text, for floats as well as integers, and its writer prints that text again. Every number whose text is
// what JavaScript would print anyway stays a plain `number`, so rules keep comparing numbers as numbers; only the
// others (beyond 2^53, `1.0`, `1e3`, `-0`) become a `LosslessNumber` that keeps its text. It is slower than the
// built-in parser, so `parseJsonText` first tries JSON.parse and keeps its result when writing it back gives the
// same text (the common case for what apiservers and Velero write); only other texts take the slow path.
import { isLosslessNumber, LosslessNumber, parse as losslessParse, stringify as losslessStringify } from "lossless-json";

export { isLosslessNumber, LosslessNumber };

/** A number's text as read, when JavaScript's number would print differently. */
function keepNumber(text: string): number | LosslessNumber {
  const n = Number(text);
  return String(n) === text ? n : new LosslessNumber(text);
}

/** Parses JSON, keeping every number's text (see above). Throws SyntaxError on bad JSON like JSON.parse. */
export function parseJsonText(text: string): unknown {
  return keepNumbersOf(text, JSON.parse(text));
}

/** `fast` (JSON.parse of `text`) when it is exact, else the lossless reading of `text`. */
export function keepNumbersOf(text: string, fast: unknown): unknown {
  if (!mayHoldChangedNumber(text) || everyNumberSurvives(text)) return fast;
  return parseJsonLossless(text);
}

/** 0-9 . e E + - */
const isNumberChar = (c: number) => (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d;

/**
 * Whether every number token of the JSON text reads back as the same text through JSON.parse. A scan, not a
 * recursion (a document thousands of levels deep is valid JSON, and JSON.stringify of it exhausts the stack);
 * numbers inside strings are skipped.
 */
function everyNumberSurvives(text: string): boolean {
  const QUOTE = 0x22;
  const BACKSLASH = 0x5c;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === BACKSLASH) i++;
        else if (s === QUOTE) break;
      }
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let end = i + 1;
      while (end < text.length && isNumberChar(text.charCodeAt(end))) end++;
      const token = text.slice(i, end);
      if (String(Number(token)) !== token) return false;
      i = end - 1;
    }
  }
  return true;
}

/** The slow, always-lossless path. */
export function parseJsonLossless(text: string): unknown {
  return losslessParse(text, null, keepNumber);
}

/**
 * Cheap screen before the slow parser: a number changes in JSON.parse only if it has 16 or more digits, a
 * fraction, an exponent, or is -0. Without any such token (numbers inside strings count too: harmless) the fast
 * result is exact even if the text differs in whitespace or escapes.
 */
function mayHoldChangedNumber(text: string): boolean {
  return /\d{16}|\d\.\d|\d[eE]|-0(?![.\d])/.test(text);
}

/** Writes JSON, printing a kept number's own text. Same output as JSON.stringify where no number was kept. */
export function stringifyJsonText(value: unknown, space?: number): string {
  if (!holdsLosslessNumber(value)) return JSON.stringify(value, null, space);
  const text = losslessStringify(value, null, space);
  if (text === undefined) throw new TypeError("nothing to write as JSON");
  return text;
}

/** Whether a value holds a kept number anywhere (iterative: deep objects must not exhaust the stack). */
export function holdsLosslessNumber(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== "object") continue;
    if (isLosslessNumber(v)) return true;
    if (Array.isArray(v)) for (const el of v) stack.push(el);
    else for (const key of Object.keys(v)) stack.push((v as Record<string, unknown>)[key]);
  }
  return false;
}
