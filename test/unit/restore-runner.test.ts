// The restore runner with its effects as plain objects: a clock that sleeping advances, an apiserver that is a
// map of paths, a store that keeps the last saved state. What is done, in which order, and what is printed.
import assert from "node:assert/strict";
import type { PairRecord } from "../../src/pairs/pair-record.js";
import { restorePlan } from "../../src/recovery/restore-plan.js";
import { newRunState, type RestoreRunState } from "../../src/recovery/restore-run-state.js";
import { runRestore, type RestoreEffects } from "../../src/recovery/restore-runner.js";

const pair = { backup: { name: "nightly-1", namespace: "velero", uid: "u1", phase: "Completed" }, state: "Paired", clusterIdentity: "cluster-a", snapshot: { revision: "42" } } as PairRecord;
const etcd = { member: "cp-1", cluster: [{ name: "cp-1", peerUrl: "https://10.0.0.1:2380" }], dataDir: "/var/lib/etcd-restored", etcdutl: "etcdutl", bumpRevision: 1000, force: false };
const plan = restorePlan({ pair, cluster: { identity: "cluster-a" }, store: "file:///s", veleroNamespace: "velero", etcd });
const BACKUP = "/apis/velero.io/v1/namespaces/velero/backups/nightly-1";
const RESTORE = "/apis/velero.io/v1/namespaces/velero/restores/nightly-1-volumes";

function world() {
  let clock = Date.parse("2026-12-01T22:00:00Z");
  const objects = new Map<string, unknown>();
  const calls: string[] = [];
  let saved: RestoreRunState | undefined;
  let apiserverUp = false;
  /** What Velero does when the runner waits: called on every sleep. */
  let velero: () => void = () => undefined;
  const effects: RestoreEffects = {
    now: () => new Date(clock),
    sleep: async (ms) => {
      clock += ms;
      velero();
    },
    saveState: async (s) => void (saved = structuredClone(s)),
    verifySnapshot: async () => (calls.push("verify"), "ok"),
    restoreEtcd: async (t) => (calls.push(`restore ${t.dataDir}`), { dataDir: t.dataDir }),
    kube: {
      get: async <T>(path: string) => {
        if (!apiserverUp) throw new Error("connect ECONNREFUSED");
        return objects.get(path) as T | undefined;
      },
      send: async <T>(method: "POST" | "DELETE", path: string, body: unknown) => {
        calls.push(`${method} ${path}`);
        if (method === "DELETE") objects.delete(path);
        else objects.set(`${path}/${(body as { metadata: { name: string } }).metadata.name}`, body);
        return undefined as T;
      },
    },
  };
  return {
    effects,
    objects,
    calls,
    saved: () => saved!,
    up: () => void (apiserverUp = true),
    onSleep: (f: () => void) => void (velero = f),
  };
}

async function run(w: ReturnType<typeof world>, state: RestoreRunState, continueStep?: string) {
  let out = "";
  let err = "";
  const r = await runRestore({ plan, state: structuredClone(state), effects: w.effects, io: { out: (s) => void (out += s), err: (s) => void (err += s) }, timeoutMs: 600_000, pollMs: 1000, ...(continueStep ? { continueStep } : {}) });
  return { ...r, out, err };
}

describe("restore runner", () => {
  it("runs the same-cluster path to the end, stopping at each manual step until it is confirmed", async () => {
    const w = world();
    const first = await run(w, newRunState(plan, { name: "nightly-1", uid: "u1" }, { veleroNamespace: "velero", etcd }, w.effects.now()));
    assert.equal(first.exitCode, 3);
    assert.deepEqual(w.calls, ["verify"]);
    assert.match(first.out, /Step 2 of 6 is yours to do:\n2\. \[you\] Stop the API servers/);
    assert.match(first.out, /continue with:\n  twinsnap restore run --backup nightly-1 --store file:\/\/\/s --continue stop-control-plane/);
    assert.equal(w.saved().steps["stop-control-plane"]?.waitingSince, "2026-12-01T22:00:00.000Z");

    const second = await run(w, w.saved(), "stop-control-plane");
    assert.equal(second.exitCode, 3);
    assert.match(second.err, /\[1\/6\] .*: done earlier/);
    assert.deepEqual(w.calls, ["verify", "restore /var/lib/etcd-restored"], "the verified snapshot is not verified again");
    assert.equal(w.saved().restoredDataDir, "/var/lib/etcd-restored");
    assert.match(second.out, /--continue start-control-plane/);

    // The operator starts etcd and the API servers; the Backup is back from etcd as it was during the backup.
    w.up();
    w.objects.set("/api/v1/namespaces/kube-system", { metadata: { uid: "cluster-a" } });
    w.objects.set(BACKUP, { metadata: { uid: "b-old" }, status: { phase: "InProgress" } });
    w.onSleep(() => {
      // Velero: its backup sync lists the removed backup again, and it finishes a Restore.
      if (!w.objects.has(BACKUP)) w.objects.set(BACKUP, { metadata: { uid: "b-new" }, status: { phase: "Completed" } });
      const r = w.objects.get(RESTORE) as { status?: object } | undefined;
      if (r) r.status = { phase: "Completed", warnings: 0, errors: 0 };
    });
    const third = await run(w, w.saved(), "start-control-plane");
    assert.equal(third.exitCode, 0, third.out + third.err);
    assert.deepEqual(w.calls.slice(2), [`DELETE ${BACKUP}`, "POST /apis/velero.io/v1/namespaces/velero/restores"]);
    assert.match(third.err, /back from etcd as InProgress: removed it/);
    assert.match(third.out, /^Recovery from backup nightly-1 \(same-cluster\) finished: 6 steps/);
    assert.match(third.out, /6\. restore-volumes: Restore nightly-1-volumes from backup nightly-1: Completed, 0 warning\(s\), 0 error\(s\)/);

    const again = await run(w, w.saved());
    assert.equal(again.exitCode, 0);
    assert.equal(w.calls.length, 4, "a finished run does nothing more");
  });

  it("a Restore this run created before it was interrupted is followed, not created twice", async () => {
    const w = world();
    w.up();
    const state = newRunState(plan, { name: "nightly-1", uid: "u1" }, { veleroNamespace: "velero", etcd }, w.effects.now());
    for (const s of plan.steps.slice(0, 5)) state.steps[s.id] = { finishedAt: "2026-12-01T21:00:00.000Z" };
    state.steps["restore-volumes"] = { startedAt: "2026-12-01T21:30:00.000Z" };
    state.restoreName = "nightly-1-volumes";
    w.objects.set(RESTORE, { status: { phase: "InProgress" } });
    w.onSleep(() => ((w.objects.get(RESTORE) as { status: object }).status = { phase: "Completed" }));
    const r = await run(w, state);
    assert.equal(r.exitCode, 0, r.out);
    assert.deepEqual(w.calls, []);
    assert.match(r.err, /following Restore velero\/nightly-1-volumes, created by an earlier run/);
  });

  it("follows a Restore through WaitingForPluginOperations (twinsnap's webhooks last) and Finalizing to its end", async () => {
    const w = world();
    w.up();
    const state = newRunState(plan, { name: "nightly-1", uid: "u1" }, { veleroNamespace: "velero", etcd }, w.effects.now());
    for (const s of plan.steps.slice(0, 5)) state.steps[s.id] = { finishedAt: "2026-12-01T21:00:00.000Z" };
    state.steps["restore-volumes"] = { startedAt: "2026-12-01T21:30:00.000Z" };
    state.restoreName = "nightly-1-volumes";
    const phases = ["WaitingForPluginOperations", "Finalizing", "Completed"];
    w.objects.set(RESTORE, { status: { phase: "InProgress" } });
    w.onSleep(() => ((w.objects.get(RESTORE) as { status: object }).status = { phase: phases.shift() ?? "Completed" }));
    const r = await run(w, state);
    assert.equal(r.exitCode, 0, r.out);
    assert.match(r.err, /WaitingForPluginOperations/);
    assert.deepEqual(phases, [], "followed until Completed");
  });

  it("a failed step ends the run with exit 1, the reason and what to do; the rerun tries that step again", async () => {
    const w = world();
    w.up();
    w.objects.set("/api/v1/namespaces/kube-system", { metadata: { uid: "some-other-cluster" } });
    const state = newRunState(plan, { name: "nightly-1", uid: "u1" }, { veleroNamespace: "velero", etcd }, w.effects.now());
    for (const s of plan.steps.slice(0, 4)) state.steps[s.id] = { finishedAt: "2026-12-01T21:00:00.000Z" };
    const r = await run(w, state);
    assert.equal(r.exitCode, 1);
    assert.match(r.out, /Step 5 of 6 failed: Wait until the apiserver answers again.*\n  the apiserver answers as another cluster \(kube-system uid some-other-cluster/);
    assert.match(r.out, /What to do: etcd does not serve the restored data/);
    assert.match(w.saved().steps["wait-apiserver"]?.lastError ?? "", /another cluster/);
    assert.equal(w.saved().steps["wait-apiserver"]?.finishedAt, undefined);
  });

  it("credentials the apiserver refuses are waited out (it may be starting), then the failure names the kubeconfig", async () => {
    const w = world();
    w.effects.kube.get = async () => {
      throw Object.assign(new Error("GET /api/v1/namespaces/kube-system: Unauthorized"), { status: 401 });
    };
    const state = newRunState(plan, { name: "nightly-1", uid: "u1" }, { veleroNamespace: "velero", etcd }, w.effects.now());
    for (const s of plan.steps.slice(0, 4)) state.steps[s.id] = { finishedAt: "2026-12-01T21:00:00.000Z" };
    const r = await run(w, state);
    assert.equal(r.exitCode, 1);
    assert.match(r.err, /\[5\/6\] the apiserver refuses the kubeconfig's credentials/);
    assert.match(r.out, /What to do: .*the kubeconfig is an admin's \(--kubeconfig \/etc\/kubernetes\/admin.conf/);
  });

  it("waiting has a limit: the apiserver that never answers fails the step after --timeout", async () => {
    const w = world();
    const state = newRunState(plan, { name: "nightly-1", uid: "u1" }, { veleroNamespace: "velero", etcd }, w.effects.now());
    for (const s of plan.steps.slice(0, 4)) state.steps[s.id] = { finishedAt: "2026-12-01T21:00:00.000Z" };
    const r = await run(w, state);
    assert.equal(r.exitCode, 1);
    assert.match(r.out, /did not answer as the backed-up cluster after 600 s/);
    assert.equal((r.err.match(/does not answer yet/g) ?? []).length, 1, "one progress line per change, not one per poll");
  });
});
