import assert from "node:assert/strict";
import { parseDuration } from "../../src/cli/duration.js";
import { UsageError } from "../../src/cli/usage-error.js";

describe("command-line durations", () => {
  for (const [text, ms] of [
    ["3600", 3_600_000],
    ["10s", 10_000],
    ["1h", 3_600_000],
    ["1h30m", 5_400_000],
    ["1.5s", 1500],
    ["250ms", 250],
    ["0s", 0],
  ] as const) {
    it(`reads "${text}" as ${ms} ms`, () => assert.equal(parseDuration("--retention-grace", text), ms));
  }

  for (const bad of ["", "-5s", "10 minutes", "1d", "s", "10s5"]) {
    it(`refuses "${bad}" with the flag's name`, () => {
      assert.throws(() => parseDuration("--retention-grace", bad), (err: unknown) => err instanceof UsageError && /--retention-grace must be a duration/.test((err as Error).message));
    });
  }
});
