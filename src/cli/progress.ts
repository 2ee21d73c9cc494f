// Progress of long work on stderr, for a person watching a terminal: one line redrawn in place at most a few times
// a second, cleared when the work ends. Quiet when stderr is not a terminal (a log file, a CI job, a pipe).
export interface ByteProgress {
  update(bytes: number, totalBytes?: number): void;
  /** Clears the line. */
  done(): void;
}

const MiB = 2 ** 20;
const size = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / MiB).toFixed(1)} MiB`);

export function byteProgress(io: { err(s: string): void; interactive?: boolean }, label: string, now: () => number = Date.now): ByteProgress {
  if (!io.interactive) return { update() {}, done() {} };
  const started = now();
  let last = 0;
  let shown = false;
  return {
    update(bytes, total) {
      const t = now();
      if (t - last < 250) return;
      last = t;
      const rate = bytes / Math.max((t - started) / 1000, 0.001);
      const of = total ? ` of ${size(total)} (${Math.min(100, Math.floor((bytes / total) * 100))}%)` : "";
      io.err(`\r\x1b[2K${label}: ${size(bytes)}${of}, ${size(rate)}/s`);
      shown = true;
    },
    done() {
      if (shown) io.err("\r\x1b[2K");
    },
  };
}
