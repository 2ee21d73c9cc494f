// The pairing table: every Velero phase, with and without a record so far.
import assert from "node:assert/strict";
import { nextPairingStep } from "../../src/coordinator/pairing.js";
import type { PairRecord } from "../../src/pairs/pair-record.js";

const record = (state: PairRecord["state"], withSnapshot = false) => ({ state, ...(withSnapshot ? { snapshot: {} } : {}) }) as PairRecord;

describe("pairing decisions", () => {
  const cases: [string, PairRecord | undefined, string][] = [
    ["New", undefined, "record-pending"],
    ["Queued", record("Pending"), "nothing"],
    ["InProgress", undefined, "snapshot:during-backup"],
    ["InProgress", record("Pending"), "snapshot:during-backup"],
    ["InProgress", record("Snapshotting"), "snapshot:during-backup"], // coordinator restarted mid-snapshot
    ["InProgress", record("Snapshotting", true), "nothing"],
    ["Finalizing", record("Snapshotting", true), "nothing"],
    ["Completed", record("Snapshotting", true), "mark-paired"],
    ["PartiallyFailed", record("Snapshotting", true), "mark-paired"],
    ["Completed", undefined, "snapshot:after-backup"], // the coordinator was down while the backup ran
    ["Completed", record("Snapshotting"), "snapshot:after-backup"], // stopped mid-stream; the backup finished meanwhile
    ["Completed", record("Paired", true), "nothing"],
    ["Failed", record("Snapshotting", true), "mark-backup-failed"],
    ["FailedValidation", undefined, "mark-backup-failed"],
    ["Completed", record("Failed"), "nothing"],
    ["Deleting", record("Paired", true), "nothing"],
    ["Completed", { state: "Snapshotting", etcd: { available: false, reason: "managed" } } as PairRecord, "mark-paired"],
  ];
  for (const [phase, rec, expected] of cases) {
    it(`${phase} with ${rec ? `a ${rec.state} record${rec.snapshot ? " and a snapshot" : ""}` : "no record"}: ${expected}`, () => {
      const step = nextPairingStep(phase, rec);
      assert.equal(step.do === "snapshot" ? `snapshot:${step.timing}` : step.do, expected);
    });
  }
});
