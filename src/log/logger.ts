// Logging for every face of twinsnap. In plugin mode stdout belongs to go-plugin's handshake, so logs are
// JSON lines on stderr that go-plugin relays into Velero's log: "@level" and "@message" must be strings
// (anything else panics Velero's server) and "@timestamp" is omitted (go-plugin wants exactly six
// fractional digits; a JavaScript timestamp would demote the whole line to debug).
// Error level is for real errors only: Velero counts a plugin's error lines as backup errors.
// A line is formatted only when its level is on: the plugin's per-item debug lines cost nothing at Velero's
// default level. (No logging library: winston took a third of the plugin's start-up to load, for this.)
import { Writable } from "node:stream";

export const LOG_LEVELS = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 } as const;
export type LogLevel = keyof typeof LOG_LEVELS;

type Fields = Record<string, unknown>;
type LogMethod = (message: string, fields?: Fields) => void;

export interface Logger {
  error: LogMethod;
  warn: LogMethod;
  info: LogMethod;
  debug: LogMethod;
  child(fields: Record<string, string | number | boolean>): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** "hclog" for go-plugin (JSON, @-keys), "text" for humans at a terminal. */
  format?: "hclog" | "text";
  stream?: NodeJS.WritableStream;
}

function hclogLine(level: LogLevel, message: string, fields: Fields): string {
  const line: Fields = { "@level": level, "@message": String(message) };
  for (const [key, value] of Object.entries(fields)) {
    if (key.startsWith("@")) continue;
    line[key] = value instanceof Error ? value.message : value;
  }
  return JSON.stringify(line);
}

function textLine(level: LogLevel, message: string, fields: Fields): string {
  const extras = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v instanceof Error ? v.message : v)}`)
    .join(" ");
  return `${level}: ${String(message)}${extras ? ` ${extras}` : ""}`;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = LOG_LEVELS[options.level ?? "info"];
  const stream = options.stream ?? process.stderr;
  const format = options.format === "text" ? textLine : hclogLine;
  const make = (bound: Fields): Logger => {
    const at =
      (level: LogLevel): LogMethod =>
      (message, fields) => {
        if (LOG_LEVELS[level] > threshold) return;
        stream.write(`${format(level, message, fields ? { ...bound, ...fields } : bound)}\n`);
      };
    return { error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug"), child: (fields) => make({ ...bound, ...fields }) };
  };
  return make({});
}

/** Velero passes logrus level names ("info", "warning", "panic"...); map them onto ours. */
export function parseLogLevel(value: string | undefined): LogLevel {
  switch ((value ?? "").toLowerCase()) {
    case "trace":
      return "trace";
    case "debug":
      return "debug";
    case "warn":
    case "warning":
      return "warn";
    case "error":
    case "fatal":
    case "panic":
      return "error";
    default:
      return "info";
  }
}

/** A logger that drops everything, for tests and quiet commands. */
export function silentLogger(): Logger {
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  return createLogger({ level: "error", stream: sink });
}
