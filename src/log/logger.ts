// Logging for every face of twinsnap. In plugin mode stdout belongs to go-plugin's handshake, so logs are
// JSON lines on stderr that go-plugin relays into Velero's log: "@level" and "@message" must be strings
// (anything else panics Velero's server) and "@timestamp" is omitted (go-plugin wants exactly six
// fractional digits; a JavaScript timestamp would demote the whole line to debug).
// Error level is for real errors only: Velero counts a plugin's error lines as backup errors.
import { Writable } from "node:stream";
import winston from "winston";

export const LOG_LEVELS = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 } as const;
export type LogLevel = keyof typeof LOG_LEVELS;

export type Logger = Pick<winston.Logger, "error" | "warn" | "info" | "debug"> & {
  child(fields: Record<string, string | number | boolean>): Logger;
};

export interface LoggerOptions {
  level?: LogLevel;
  /** "hclog" for go-plugin (JSON, @-keys), "text" for humans at a terminal. */
  format?: "hclog" | "text";
  stream?: NodeJS.WritableStream;
}

const hclogFormat = winston.format.printf((info) => {
  const { level, message, ...fields } = info;
  const line: Record<string, unknown> = { "@level": String(level), "@message": String(message) };
  for (const [key, value] of Object.entries(fields)) {
    if (typeof key !== "string" || key.startsWith("@")) continue;
    line[key] = value instanceof Error ? value.message : value;
  }
  return JSON.stringify(line);
});

const textFormat = winston.format.printf((info) => {
  const { level, message, ...fields } = info;
  const extras = Object.entries(fields)
    .filter(([k]) => typeof k === "string")
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `${level}: ${String(message)}${extras ? ` ${extras}` : ""}`;
});

export function createLogger(options: LoggerOptions = {}): Logger {
  const logger = winston.createLogger({
    levels: LOG_LEVELS,
    level: options.level ?? "info",
    format: options.format === "text" ? textFormat : hclogFormat,
    transports: [new winston.transports.Stream({ stream: options.stream ?? process.stderr })],
  });
  // winston formats every line (a JSON.stringify here) before its transport drops it by level: the plugin's
  // per-item debug lines cost that on every item at Velero's default level. Drop them before formatting.
  // Set on the instance with `this`, so child loggers (Object.create of this one) keep their own fields.
  const methods = logger as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const level of Object.keys(LOG_LEVELS)) {
    const write = methods[level]!;
    methods[level] = function (this: winston.Logger, ...args: unknown[]) {
      return this.isLevelEnabled(level) ? write.apply(this, args) : this;
    };
  }
  return logger as unknown as Logger;
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
