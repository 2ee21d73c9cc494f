// Shared snapshots for bursts: which backups share which snapshot, as a table.
import assert from "node:assert/strict";
import { parseDuration } from "../../src/cli/parse-flags.js";
import { chooseSnapshot, type BackupToPair, type ShareCandidate } from "../../src/coordinator/snapshot-sharing.js";

const T0 = Date.parse("2026-12-01T02:00:00Z");
const s = (seconds: number) => T0 + seconds * 1000;
const candidate = (name: string, startSecond: number, extra: Partial<ShareCandidate> = {}): ShareCandidate => ({
  key: `snapshots/${name}.db.gz`,
  takenFor: { name, uid: `uid-${name}` },
  anchorMs: s(startSecond),
  timing: "during-backup",
  state: "taken",
  ...extra,
});
const running = (startSecond: number | undefined): BackupToPair => ({ startMs: startSecond === undefined ? undefined : s(startSecond), timing: "during-backup" });

describe("shared snapshots: which snapshot a backup of a burst uses", () => {
  const cases: { why: string; backup: BackupToPair; candidates: ShareCandidate[]; windowSeconds: number; expected: string }[] = [
    { why: "sharing is off by default", backup: running(5), candidates: [candidate("a", 0)], windowSeconds: 0, expected: "own" },
    { why: "nothing to share yet: the first of a burst takes its own", backup: running(0), candidates: [], windowSeconds: 30, expected: "own" },
    { why: "started within the window of a taken snapshot", backup: running(12), candidates: [candidate("a", 0)], windowSeconds: 30, expected: "a" },
    { why: "a snapshot still being taken is shared too", backup: running(1), candidates: [candidate("a", 0, { state: "taking" })], windowSeconds: 30, expected: "a" },
    { why: "exactly at the edge of the window", backup: running(30), candidates: [candidate("a", 0)], windowSeconds: 30, expected: "a" },
    { why: "just outside the window", backup: running(31), candidates: [candidate("a", 0)], windowSeconds: 30, expected: "own" },
    { why: "started before the snapshot's backup, but within the window (events arrive out of order)", backup: running(-10), candidates: [candidate("a", 0)], windowSeconds: 30, expected: "a" },
    { why: "the nearest of two", backup: running(25), candidates: [candidate("a", 0), candidate("b", 20)], windowSeconds: 30, expected: "b" },
    { why: "a tie: the finished one", backup: running(10), candidates: [candidate("a", 0, { state: "taking" }), candidate("b", 20)], windowSeconds: 30, expected: "b" },
    { why: "no start time: nothing to compare", backup: running(undefined), candidates: [candidate("a", 0)], windowSeconds: 30, expected: "own" },
    { why: "a running backup never gets a snapshot taken after another backup finished", backup: running(5), candidates: [candidate("a", 0, { timing: "after-backup" })], windowSeconds: 30, expected: "own" },
    { why: "backups that finished while the coordinator was down share an after-backup snapshot", backup: { startMs: s(5), timing: "after-backup" }, candidates: [candidate("a", 0, { timing: "after-backup" })], windowSeconds: 30, expected: "a" },
  ];
  for (const c of cases) {
    it(`${c.why}: ${c.expected === "own" ? "its own snapshot" : `shares ${c.expected}'s`}`, () => {
      const decision = chooseSnapshot(c.backup, c.candidates, c.windowSeconds * 1000);
      assert.equal(decision.do === "share" ? decision.snapshot.takenFor.name : "own", c.expected, decision.why);
      assert.ok(decision.why.length > 0);
    });
  }
});

describe("--share-window durations", () => {
  const cases: [string, number | RegExp][] = [
    ["0", 0],
    ["30s", 30_000],
    ["2m", 120_000],
    ["1h", 3_600_000],
    ["500ms", 500],
    ["1.5s", 1500],
    ["30", /needs a unit/],
    ["soon", /not a duration/],
    ["-5s", /not a duration/],
  ];
  for (const [text, expected] of cases) {
    it(`"${text}" is ${expected instanceof RegExp ? "refused" : `${expected} ms`}`, () => {
      if (expected instanceof RegExp) assert.throws(() => parseDuration("--share-window", text), expected);
      else assert.equal(parseDuration("--share-window", text), expected);
    });
  }
});
