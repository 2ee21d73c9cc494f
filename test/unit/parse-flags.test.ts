// Flag values: a typo is a usage error, never NaN, a silently changed number or another unit.
import assert from "node:assert/strict";
import { parseDuration, parseEndpoint, parseEndpoints, parsePositiveInteger } from "../../src/cli/parse-flags.js";
import { UsageError } from "../../src/cli/usage-error.js";

describe("flag values", () => {
  const integers: [string, number | RegExp][] = [
    ["8", 8],
    ["1000000000", 1_000_000_000],
    ["0", /positive integer, not "0"/],
    ["abc", /positive integer, not "abc"/],
    ["2.5", /positive integer/],
    ["1e3", /positive integer/],
    ["-1", /positive integer/],
    ["0x10", /positive integer/],
    ["99999999999999999999", /positive integer/],
    ["", /positive integer/],
  ];
  for (const [text, expected] of integers) {
    it(`--concurrency "${text}" ${expected instanceof RegExp ? "is refused" : `is ${expected}`}`, () => {
      if (expected instanceof RegExp) assert.throws(() => parsePositiveInteger("--concurrency", text), (e: unknown) => e instanceof UsageError && expected.test(e.message));
      else assert.equal(parsePositiveInteger("--concurrency", text), expected);
    });
  }

  const durations: [string, { bareSeconds?: boolean }, number | RegExp][] = [
    ["1h", {}, 3_600_000],
    ["1h30m", {}, 5_400_000],
    ["1.5h", {}, 5_400_000],
    ["2m3.5s", {}, 123_500],
    ["500ms", {}, 500],
    ["1500us", {}, 1.5],
    ["0", {}, 0],
    ["1h", { bareSeconds: true }, 3_600_000],
    ["300", { bareSeconds: true }, 300_000],
    ["300", {}, /needs a unit/],
    ["1d", {}, /not a duration/],
    ["h", {}, /not a duration/],
    ["1h-5m", {}, /not a duration/],
    ["", {}, /not a duration/],
  ];
  for (const [text, opts, expected] of durations) {
    it(`--timeout "${text}"${opts.bareSeconds ? " (plain numbers are seconds)" : ""} ${expected instanceof RegExp ? "is refused" : `is ${expected} ms`}`, () => {
      if (expected instanceof RegExp) assert.throws(() => parseDuration("--timeout", text, opts), expected);
      else assert.equal(parseDuration("--timeout", text, opts), expected);
    });
  }

  const endpoints: [string, string | RegExp][] = [
    ["127.0.0.1:2379", "http://127.0.0.1:2379"],
    ["https://10.0.0.1:2379", "https://10.0.0.1:2379"],
    ["https://10.0.0.1:2379/", "https://10.0.0.1:2379"],
    ["[::1]:2379", "http://[::1]:2379"],
    ["https://[fd00::1]:2379", "https://[fd00::1]:2379"],
    ["etcd.example:2379", "http://etcd.example:2379"],
    ["https://10.0.0.1", /needs a port/],
    ["unix:///run/etcd.sock", /must be http:\/\/ or https:\/\//],
    ["https://10.0.0.1:2379/v3", /without a path/],
    ["http://[::1:2379", /not an endpoint/],
  ];
  for (const [text, expected] of endpoints) {
    it(`--endpoints "${text}" ${expected instanceof RegExp ? "is refused" : `is ${expected}`}`, () => {
      if (expected instanceof RegExp) assert.throws(() => parseEndpoint("--endpoints", text), expected);
      else assert.equal(parseEndpoint("--endpoints", text), expected);
    });
  }
  it("an endpoint list; none stays none", () => {
    assert.deepEqual(parseEndpoints("--etcd-endpoints", "127.0.0.1:2379, https://10.0.0.2:2379"), ["http://127.0.0.1:2379", "https://10.0.0.2:2379"]);
    assert.deepEqual(parseEndpoints("--etcd-endpoints", "none"), ["none"]);
    assert.throws(() => parseEndpoints("--etcd-endpoints", " , "), /is empty/);
  });
});
