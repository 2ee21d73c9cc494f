// Which recovery path a pair calls for, and what the plan tells an operator to run.
import assert from "node:assert/strict";
import type { PairRecord } from "../../src/coordinator/pair-record.js";
import { formatPlan, restorePlan } from "../../src/coordinator/restore-plan.js";

const pair = {
  apiVersion: "twinsnap.dev/v1alpha1",
  kind: "PairRecord",
  backup: { name: "nightly-1", namespace: "velero", uid: "u1", phase: "Completed" },
  state: "Paired",
  clusterIdentity: "cluster-a",
  snapshot: { revision: "4242" },
  coordinatorVersion: "0.1.0",
  updatedAt: "2026-11-24T00:00:00Z",
} as PairRecord;
const base = { pair, store: "file:///var/lib/twinsnap", veleroNamespace: "velero" };
const commands = (p: ReturnType<typeof restorePlan>) => p.steps.flatMap((s) => s.commands).join("\n");

describe("restore plans", () => {
  it("the same cluster: etcd restore first, at the pair's revision, then volume data with Velero", () => {
    const plan = restorePlan({ ...base, cluster: { identity: "cluster-a" } });
    assert.equal(plan.mode, "same-cluster");
    assert.match(commands(plan), /twinsnap etcd restore --backup nightly-1/);
    assert.match(formatPlan(plan, pair), /Restore etcd to revision 4242/);
    assert.match(commands(plan), /velero restore create nightly-1-volumes/);
    assert.deepEqual(plan.warnings, []);
  });

  it("a new cluster: Velero only, and the plan says why the etcd snapshot must not be used", () => {
    const plan = restorePlan({ ...base, cluster: { identity: "cluster-b" } });
    assert.equal(plan.mode, "new-cluster");
    assert.doesNotMatch(commands(plan), /etcd restore/);
    assert.match(formatPlan(plan, pair), /impersonate the old one/);
    assert.match(commands(plan), /velero restore create nightly-1-migrate --from-backup nightly-1 --wait/);
  });

  it("an apiserver that does not answer suggests a lost control plane, with a warning", () => {
    const plan = restorePlan({ ...base, cluster: { unreachable: "connect ECONNREFUSED" } });
    assert.equal(plan.mode, "same-cluster");
    assert.match(plan.warnings.join("\n"), /could not be checked.*--mode new-cluster/);
  });

  it("--mode overrides the detection with a warning; without a snapshot only the Velero path is possible", () => {
    const forced = restorePlan({ ...base, cluster: { identity: "cluster-b" }, override: "same-cluster" });
    assert.equal(forced.mode, "same-cluster");
    assert.match(forced.warnings.join("\n"), /overrides the detected new-cluster/);
    const noSnapshot = restorePlan({ ...base, pair: { ...pair, snapshot: undefined, state: "Failed", reason: "etcd down" } as PairRecord, cluster: { identity: "cluster-a" } });
    assert.match(noSnapshot.warnings.join("\n"), /no etcd snapshot \(Failed: etcd down\)/);
  });
});
