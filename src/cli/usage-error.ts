/** A mistake in how a command was called: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * Exit codes, the same in every command (documented in --help and the README):
 * 0 done; 1 failed, or problems found; 2 usage (a flag or argument is wrong); 3 restore run stopped at a step
 * that is yours; 4 what was named does not exist (no pair record for that backup).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, yourTurn: 3, notFound: 4 } as const;

/** What the command was asked about does not exist (a backup without a pair record): exit code 4. */
export class NotFoundError extends Error {
  override readonly name = "NotFoundError";
}
