// A command of the CLI as data: the words that name it, what it is for, its flags (each with its help), and the
// function that runs it. main.ts dispatches over a table of these, and help is drawn from the same declarations,
// so a flag cannot exist without its help or be documented without existing. Parsing is node:util's parseArgs:
// strict (an unknown flag is a usage error), no dependency to keep up with.
// A command's run imports its implementation when it runs (`await import(...)`): the table, the help and parsing
// stay light, and a command compiles and holds only its own modules (the etcd snapshot is not paying in memory for
// the AWS SDK, age, restore planning and the apply engine).
import { parseArgs } from "node:util";
import { UsageError } from "./usage-error.js";

export interface CommandIo {
  out(s: string): void;
  err(s: string): void;
  /** The process environment: only the entry point reads it, commands get it here. */
  env: NodeJS.ProcessEnv;
  stdin(): Promise<string>;
  /** stderr is a terminal: long work may show progress there (a line redrawn in place). */
  interactive?: boolean;
}

export interface Flag {
  type: "string" | "boolean";
  /** One letter: -o, -n, -v. */
  short?: string;
  multiple?: boolean;
  /** What the value is, for help: FILE, URL, NAME, DURATION. */
  value?: string;
  /** The default, or how to find it in the environment (VELERO_NAMESPACE, say); shown in help. */
  default?: string | boolean | ((env: NodeJS.ProcessEnv) => string);
  help: string;
}

export type Flags = Record<string, Flag>;

export interface Command<F extends Flags = Flags> {
  /** The words that name it: ["pairs", "list"]. */
  path: string[];
  /** One line: what it is for. */
  summary: string;
  /** Positional arguments as help shows them after the flags: "BACKUP", "[FILE...]". */
  args?: string;
  /** Accepts positional arguments (at most `maxArgs`). */
  maxArgs?: number;
  flags: F;
  /** Paragraphs after the flags: what the command does step by step, what its output means. */
  details?: string;
  run(parsed: Parsed<F>, io: CommandIo): Promise<number>;
}

type ValueOf<F extends Flag> = F["type"] extends "boolean" ? boolean : F["multiple"] extends true ? string[] : string;
type HasDefault<F extends Flag> = F["default"] extends undefined ? false : true;
export interface Parsed<F extends Flags> {
  values: { [K in keyof F]: HasDefault<F[K]> extends true ? ValueOf<F[K]> : ValueOf<F[K]> | undefined };
  positionals: string[];
}

/** Declares a command; the identity function, there for the types. */
export function command<F extends Flags>(c: Command<F>): Command<F> {
  return c;
}

/** -h and --help, wherever they are before a "--". */
export function asksForHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === "--") return false;
    if (a === "-h" || a === "--help") return true;
  }
  return false;
}

export function parseCommandArgs<F extends Flags>(c: Command<F>, args: string[], env: NodeJS.ProcessEnv): Parsed<F> {
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean; default?: string | boolean }> = {};
  for (const [name, f] of Object.entries(c.flags)) {
    const d = typeof f.default === "function" ? f.default(env) : f.default;
    options[name] = { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}), ...(d !== undefined ? { default: d } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: (c.maxArgs ?? 0) > 0, strict: true });
  } catch (e) {
    // parseArgs' own words, pointing at the command's help rather than the overview.
    throw new UsageError(`${(e as Error).message.replace(/\. To specify a positional argument.*$/s, "")}`);
  }
  if (parsed.positionals.length > (c.maxArgs ?? 0)) {
    throw new UsageError(c.maxArgs ? `twinsnap ${c.path.join(" ")} takes at most ${c.maxArgs} argument(s): ${c.args ?? ""}` : `twinsnap ${c.path.join(" ")} takes no arguments (got "${parsed.positionals[0]}")`);
  }
  return parsed as unknown as Parsed<F>;
}

/** `twinsnap CMD --help`. */
export function commandHelp(c: Command, env: NodeJS.ProcessEnv): string {
  const name = `twinsnap ${c.path.join(" ")}`;
  const rows = Object.entries(c.flags).map(([flag, f]) => {
    const left = `${f.short ? `-${f.short}, ` : "    "}--${flag}${f.value ? ` ${f.value}` : f.type === "string" ? " VALUE" : ""}${f.multiple ? " (repeatable)" : ""}`;
    const d = typeof f.default === "function" ? f.default(env) : f.default;
    const shown = d === undefined || d === false || d === "" ? "" : ` (default ${d === true ? "on" : d})`;
    return [left, `${f.help}${shown}`] as const;
  });
  rows.push(["-h, --help", "this help"]);
  const width = Math.min(36, Math.max(...rows.map(([l]) => l.length)) + 2);
  const flagLines = rows.map(([l, r]) => (l.length + 2 > width ? `  ${l}\n  ${" ".repeat(width)}${wrap(r, width + 2)}` : `  ${l.padEnd(width)}${wrap(r, width + 2)}`));
  return [`${name}: ${c.summary}`, "", "Usage:", `  ${name}${Object.keys(c.flags).length ? " [flags]" : ""}${c.args ? ` ${c.args}` : ""}`, "", "Flags:", ...flagLines, ...(c.details ? ["", wrap(c.details.trim(), 0)] : []), "", EXIT_CODES_LINE, ""].join("\n");
}

export const EXIT_CODES_LINE = "Exit codes: 0 done, 1 failed or problems found, 2 usage, 3 restore run stopped at a step that is yours, 4 not found.";

/** Continuation lines of a help column, indented under it, at 110 columns. */
function wrap(text: string, indent: number): string {
  const width = Math.max(40, 110 - indent);
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.join(`\n${" ".repeat(indent)}`);
}
