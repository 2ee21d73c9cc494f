// Records that parse but are not records, beside good ones: each damaged one is reported with its key, the
// others are read as usual; a restore run state that is not a state is refused with what is wrong.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { DamagedRecordError, PAIR_RECORD_API_VERSION, type PairRecord } from "../../src/pairs/pair-record.js";
import { findPairRecord, listPairRecords, readPairRecord, writePairRecord } from "../../src/pairs/pair-store.js";
import { parseRunState, RestoreRunStateError } from "../../src/recovery/restore-run-state.js";
import { FilesystemStore } from "../../src/store/filesystem-store.js";

const good = (name: string, uid: string): PairRecord => ({
  apiVersion: PAIR_RECORD_API_VERSION,
  kind: "PairRecord",
  backup: { name, namespace: "velero", uid, phase: "Completed", startTimestamp: `2026-11-2${uid.slice(-1)}T00:00:00Z` },
  state: "Paired",
  clusterIdentity: "cluster-a",
  coordinatorVersion: "test",
  updatedAt: "2026-11-24T00:00:00Z",
});

const BROKEN: [string, string, RegExp][] = [
  ["empty-object", "{}", /apiVersion is undefined.*backup is missing/],
  ["null", "null", /not an object \(null\)/],
  ["array", "[]", /not an object \(an array\)/],
  ["empty-backup", JSON.stringify({ ...good("x", "empty-backup"), backup: {} }), /backup.name is not a non-empty string/],
  ["number", "42", /not an object \(number\)/],
  ["truncated", '{"apiVersion": "twinsnap.dev/v1alpha1", "kind": "Pair', /not JSON/],
  ["wrong-uid", JSON.stringify(good("y", "someone-else")), /backup.uid someone-else does not match its key \(wrong-uid\)/],
  ["bad-snapshot", JSON.stringify({ ...good("z", "bad-snapshot"), snapshot: { key: "snapshots/z.db.gz", revision: "1", snapshotBytes: "many" } }), /snapshot.snapshotBytes is not a byte count/],
];

describe("damaged pair records", () => {
  const store = new FilesystemStore(mkdtempSync(join(tmpdir(), "twinsnap-damaged-")));
  before(async () => {
    await writePairRecord(store, good("nightly-1", "uid-1"));
    await writePairRecord(store, good("nightly-2", "uid-2"));
    for (const [uid, text] of BROKEN) await store.put(`pairs/${uid}.json`, Readable.from([text]));
  });

  it("are listed as damaged with their keys, and never hide the good ones", async () => {
    const { records, damaged } = await listPairRecords(store);
    assert.deepEqual(records.map((r) => r.backup.name), ["nightly-1", "nightly-2"]);
    assert.equal(damaged.length, BROKEN.length);
    for (const [uid, , problem] of BROKEN) {
      const d = damaged.find((x) => x.key === `pairs/${uid}.json`);
      assert.ok(d, `pairs/${uid}.json is listed`);
      assert.match(d.error, problem);
    }
  });

  it("read by uid, a damaged record is an error naming its key, not a record nor 'none'", async () => {
    for (const [uid, , problem] of BROKEN) {
      await assert.rejects(readPairRecord(store, uid), (e: unknown) => e instanceof DamagedRecordError && e.key === `pairs/${uid}.json` && problem.test(e.problem));
    }
    assert.equal((await readPairRecord(store, "uid-1"))?.backup.name, "nightly-1");
  });

  it("found by name, the good record is found whatever lies beside it", async () => {
    assert.equal((await findPairRecord(store, "nightly-2"))?.backup.uid, "uid-2");
    assert.equal(await findPairRecord(store, "x"), undefined, "a damaged record is never taken for a pair");
  });
});

describe("damaged restore run states", () => {
  const backup = { name: "nightly-1", uid: "u1" };
  const base = { apiVersion: "twinsnap.dev/v1alpha1", kind: "RestoreRun", backup, mode: "same-cluster", params: { veleroNamespace: "velero" }, steps: {}, startedAt: "t", updatedAt: "t" };
  const cases: [string, string, RegExp][] = [
    ["null", "null", /not an object \(null\)/],
    ["an array", "[]", /not an object \(an array\)/],
    ["without steps", JSON.stringify({ ...base, steps: undefined }), /steps is not an object/],
    ["with steps null", JSON.stringify({ ...base, steps: null }), /steps is not an object/],
    ["with an unknown step", JSON.stringify({ ...base, steps: { "format-disk": {} } }), /unknown step format-disk/],
    ["with a step that is not an object", JSON.stringify({ ...base, steps: { "verify-snapshot": "done" } }), /step verify-snapshot is not an object/],
    ["of another backup", JSON.stringify({ ...base, backup: { name: "other", uid: "u2" } }), /belongs to backup uid u2, not u1/],
    ["with an unknown mode", JSON.stringify({ ...base, mode: "both" }), /mode "both"/],
    ["without params", JSON.stringify({ ...base, params: undefined }), /params.veleroNamespace is missing/],
  ];
  for (const [what, text, problem] of cases) {
    it(`a state ${what} is refused with what is wrong and how to start over`, () => {
      assert.throws(() => parseRunState(text, backup, "velero"), (e: unknown) => e instanceof RestoreRunStateError && problem.test(e.message) && /restores\/u1.json/.test(e.message));
    });
  }
  it("a good state is read as it is", () => {
    assert.equal(parseRunState(JSON.stringify(base), backup, "velero").mode, "same-cluster");
  });
});
