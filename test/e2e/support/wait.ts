// Waiting for conditions in end-to-end tests: poll until a check holds, with a generous deadline and a message
// that says what was awaited and what was last seen. Never a fixed sleep standing in for a condition.

export class WaitTimeoutError extends Error {
  override readonly name = "WaitTimeoutError";
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    readonly lastSeen: string,
  ) {
    super(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${lastSeen ? `; last seen: ${lastSeen}` : ""}`);
  }
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Checked before each attempt: a message ends the wait at once (the process it waits on died, say). */
  failIf?: () => string | undefined;
}

/**
 * Polls `check` until it returns a value other than undefined/false and returns that value. A check that throws
 * counts as "not yet" (its message is reported on timeout); `describe` turns the last value into that report.
 */
export async function waitUntil<T>(what: string, check: () => Promise<T | undefined | false>, opts: WaitOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const intervalMs = opts.intervalMs ?? 250;
  const deadline = Date.now() + timeoutMs;
  let lastSeen = "";
  for (;;) {
    const fatal = opts.failIf?.();
    if (fatal !== undefined) throw new Error(`gave up waiting for ${what}: ${fatal}`);
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      lastSeen = String(value);
    } catch (err) {
      lastSeen = (err as Error).message;
    }
    if (Date.now() > deadline) throw new WaitTimeoutError(what, timeoutMs, lastSeen);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
