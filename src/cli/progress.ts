// Progress of long work on stderr, for a person watching a terminal: one line redrawn in place at most four times
// a second, cleared when the work ends. Quiet when stderr is not a terminal (a log file, a CI job, a pipe): there
// only what the work finds worth keeping (a failure) is written, a line each.
export interface ProgressLine {
  /** The line as it is now (throttled; dropped when stderr is not a terminal). */
  show(text: string): void;
  /** A line to keep, above the progress line (always written). */
  print(line: string): void;
  /** Clears the progress line. */
  done(): void;
}

const CLEAR = "\r\x1b[2K";

export function progressLine(io: { err(s: string): void; interactive?: boolean }, now: () => number = Date.now): ProgressLine {
  if (!io.interactive) return { show() {}, print: (line) => io.err(`${line}\n`), done() {} };
  let last = 0;
  let shown = "";
  return {
    show(text) {
      const t = now();
      if (t - last < 250) return;
      last = t;
      shown = text;
      io.err(`${CLEAR}${text}`);
    },
    print(line) {
      io.err(`${shown ? CLEAR : ""}${line}\n${shown}`);
    },
    done() {
      if (shown) io.err(CLEAR);
      shown = "";
    },
  };
}

export interface ByteProgress {
  update(bytes: number, totalBytes?: number): void;
  /** Clears the line. */
  done(): void;
}

const MiB = 2 ** 20;
const size = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / MiB).toFixed(1)} MiB`);

/** Bytes streamed, the share of the total when known, and the throughput so far. */
export function byteProgress(io: { err(s: string): void; interactive?: boolean }, label: string, now: () => number = Date.now): ByteProgress {
  const line = progressLine(io, now);
  const started = now();
  return {
    update(bytes, total) {
      const rate = bytes / Math.max((now() - started) / 1000, 0.001);
      const of = total ? ` of ${size(total)} (${Math.min(100, Math.floor((bytes / total) * 100))}%)` : "";
      line.show(`${label}: ${size(bytes)}${of}, ${size(rate)}/s`);
    },
    done: () => line.done(),
  };
}
