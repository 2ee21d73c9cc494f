// What a restore run does next, from the plan, its saved state and the operator's --continue; and the saved
// state's versions.
import assert from "node:assert/strict";
import type { PairRecord } from "../../src/pairs/pair-record.js";
import { restorePlan, type StepId } from "../../src/recovery/restore-plan.js";
import { conflictingParams, newRunState, nextMove, parseRunState, RestoreRunStateError, type RestoreRunState } from "../../src/recovery/restore-run-state.js";

const pair = { backup: { name: "nightly-1", namespace: "velero", uid: "u1", phase: "Completed" }, state: "Paired", clusterIdentity: "cluster-a", snapshot: { revision: "42" } } as PairRecord;
const etcd = { member: "cp-1", cluster: [{ name: "cp-1", peerUrl: "https://10.0.0.1:2380" }], dataDir: "/var/lib/etcd-restored", etcdutl: "etcdutl", bumpRevision: 1000, force: false };
const same = restorePlan({ pair, cluster: { identity: "cluster-a" }, store: "file:///s", veleroNamespace: "velero", etcd });
const migrate = restorePlan({ pair, cluster: { identity: "cluster-b" }, store: "file:///s", veleroNamespace: "velero" });
const at = "2026-12-01T22:00:00.000Z";
function stateWith(plan: typeof same, done: StepId[], waiting?: StepId): RestoreRunState {
  const s = newRunState(plan, { name: "nightly-1", uid: "u1" }, { veleroNamespace: "velero", etcd }, new Date(at));
  for (const id of done) s.steps[id] = { startedAt: at, finishedAt: at };
  if (waiting) s.steps[waiting] = { waitingSince: at };
  return s;
}

describe("restore run: the next move", () => {
  const cases: { name: string; plan: typeof same; state?: RestoreRunState; cont?: string; expect: ReturnType<typeof nextMove> | RegExp }[] = [
    { name: "a first run starts with the first step", plan: same, expect: { move: "run", index: 0 } },
    { name: "a finished automatic step is not repeated", plan: same, state: stateWith(same, ["verify-snapshot"]), expect: { move: "stop", index: 1 } },
    { name: "a manual step stops the run, again on a rerun without --continue", plan: same, state: stateWith(same, ["verify-snapshot"], "stop-control-plane"), expect: { move: "stop", index: 1 } },
    { name: "--continue naming the waiting step confirms it", plan: same, state: stateWith(same, ["verify-snapshot"], "stop-control-plane"), cont: "stop-control-plane", expect: { move: "confirm", index: 1 } },
    { name: "--continue naming another step is refused", plan: same, state: stateWith(same, ["verify-snapshot"], "stop-control-plane"), cont: "start-control-plane", expect: /does not match the saved run: it waits at step 2, stop-control-plane/ },
    { name: "--continue with no run started is refused", plan: same, cont: "stop-control-plane", expect: /no restore run of this backup has started/ },
    { name: "--continue while no step waits is refused", plan: same, state: stateWith(same, ["verify-snapshot", "stop-control-plane"]), cont: "stop-control-plane", expect: /not waiting for you \(its next step is 3, restore-etcd\)/ },
    { name: "an automatic step started but not finished runs again (it was interrupted)", plan: same, state: { ...stateWith(same, ["verify-snapshot", "stop-control-plane"]), steps: { "verify-snapshot": { finishedAt: at }, "stop-control-plane": { finishedAt: at }, "restore-etcd": { startedAt: at } } }, expect: { move: "run", index: 2 } },
    { name: "every step done: finished", plan: same, state: stateWith(same, same.steps.map((s) => s.id)), expect: { move: "finished" } },
    { name: "--continue after the end is refused", plan: same, state: stateWith(same, same.steps.map((s) => s.id)), cont: "start-control-plane", expect: /it has finished/ },
    { name: "a manual step twinsnap can check is checked, not stopped at", plan: migrate, expect: { move: "run", index: 0 } },
    { name: "... and checked again on a rerun after it stopped there", plan: migrate, state: stateWith(migrate, [], "install-velero"), expect: { move: "run", index: 0 } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      if (c.expect instanceof RegExp) assert.throws(() => nextMove(c.plan, c.state, c.cont), (e: Error) => e instanceof RestoreRunStateError && (c.expect as RegExp).test(e.message));
      else assert.deepEqual(nextMove(c.plan, c.state, c.cont), c.expect);
    });
  }
});

describe("restore run: saved state", () => {
  it("reads the current version as written", () => {
    const s = stateWith(same, ["verify-snapshot"]);
    assert.deepEqual(parseRunState(JSON.stringify(s), { name: "nightly-1", uid: "u1" }, "velero"), s);
  });

  it("converts the first version (a new-cluster run with its Restore) so the rerun follows the same Restore", () => {
    const s = parseRunState(JSON.stringify({ restoreName: "nightly-1-twinsnap-abc", backup: "nightly-1", createdAt: at }), { name: "nightly-1", uid: "u1" }, "velero");
    assert.equal(s.mode, "new-cluster");
    assert.equal(s.restoreName, "nightly-1-twinsnap-abc");
    assert.deepEqual(nextMove(migrate, s, undefined), { move: "run", index: 1 });
  });

  it("refuses what it cannot read, saying so", () => {
    assert.throws(() => parseRunState("{not json", { name: "n", uid: "u" }, "velero"), /not JSON/);
    assert.throws(() => parseRunState(JSON.stringify({ apiVersion: "twinsnap.dev/v9", kind: "RestoreRun" }), { name: "n", uid: "u" }, "velero"), /unknown format \(apiVersion twinsnap.dev\/v9/);
  });

  it("names every parameter a rerun gives that differs from the run's own", () => {
    const s = stateWith(same, []);
    assert.deepEqual(conflictingParams(s, { etcd: { member: "cp-1", dataDir: "/var/lib/etcd-restored" } }), []);
    assert.deepEqual(conflictingParams(s, { mode: "new-cluster", etcd: { dataDir: "/elsewhere", bumpRevision: 7 } }), [
      "--mode new-cluster (the run is same-cluster)",
      "--data-dir /elsewhere (the run uses /var/lib/etcd-restored)",
      "--bump-revision 7 (the run uses 1000)",
    ]);
  });
});
