// Same-cluster recovery, end to end, driven by `twinsnap restore run` (the CLI process) as an operator on a
// control-plane node would drive it: a backup is paired with an etcd snapshot by the coordinator, objects are then
// changed, deleted and added, and the control plane is lost (etcd's data directory destroyed). The run does the
// automatic steps and stops at each manual one; the test plays the operator (and Velero, which moves the Restore's
// phase as Velero would) and continues with the command the run printed. The run is killed once mid-step and
// resumed. At the end the cluster holds exactly the objects of the backup's moment, and a watch from before the
// restore is told to re-list (410).
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import type { PairRecord } from "../../src/pairs/pair-record.js";
import type { RestoreRunState } from "../../src/recovery/restore-run-state.js";
import { connectEtcd } from "../../src/etcd/etcd-client.js";
import { loadClusterConnection } from "../../src/kube/kubeconfig.js";
import { rawClient } from "../../src/kube/raw-client.js";
import { apiserverEndpoints } from "../../src/kube/apiserver-endpoints.js";
import { silentLogger } from "../../src/log/logger.js";
import { FilesystemStore } from "../../src/store/filesystem-store.js";
import { REPO_ROOT } from "../support/fixtures.js";
import { peer } from "../support/peers.js";
import { testCluster, type TestCluster } from "../support/test-clusters.js";

interface Run {
  child: ReturnType<typeof spawn>;
  stderr: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

function twinsnap(args: string[]): Run {
  const child = spawn(join(REPO_ROOT, "bin", "twinsnap.js"), args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  return { child, stderr: () => stderr, done: new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal, stdout, stderr }))) };
}

/** Every file under `dir` with its sha256: what "nothing changed" is compared on. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** The continue command a stopped run printed, as arguments for twinsnap. */
function printedContinue(stdout: string): string[] {
  const line = /^ {2}twinsnap (restore run .* --continue \S+)$/m.exec(stdout);
  assert.ok(line, `the run prints how to continue:\n${stdout}`);
  return line[1]!.split(" ");
}

describe("same-cluster recovery with twinsnap restore run", function () {
  this.timeout(600_000);
  let cluster: TestCluster;
  const work = mkdtempSync(join(tmpdir(), "twinsnap-recovery-"));
  const storeDir = join(work, "store");
  const store = `file://${storeDir}`;
  const dataDir = join(work, "etcd-restored");
  const cm = (name: string, value: string) => JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "shop" }, data: { value } });
  const apply = async (json: string) => {
    const f = join(work, `obj-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(f, json);
    await cluster.kubectl(["apply", "-f", f]);
  };
  const pairOf = (name: string) =>
    existsSync(join(storeDir, "pairs"))
      ? readdirSync(join(storeDir, "pairs"))
          .filter((f) => f.endsWith(".json")) // not the partial file of a record being written
          .map((f) => JSON.parse(readFileSync(join(storeDir, "pairs", f), "utf8")) as PairRecord).find((r) => r.backup.name === name)
      : undefined;
  const until = async <T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await check();
      if (v) return v;
      assert.ok(Date.now() < deadline, `${what} (waited ${timeoutMs / 1000} s)`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  /** The shop namespace's ConfigMaps as data: name -> uid and value. */
  const shopObjects = async () =>
    Object.fromEntries(
      (JSON.parse(await cluster.kubectl(["get", "configmaps", "-n", "shop", "-o", "json"])).items as { metadata: { name: string; uid: string }; data?: Record<string, string> }[])
        .map((o) => [o.metadata.name, { uid: o.metadata.uid, data: o.data }]),
    );
  const veleroObjects = async (resource: string) => JSON.parse(await cluster.kubectl(["get", resource, "-n", "velero", "-o", "json"])).items as { metadata: { name: string; uid: string }; spec: Record<string, unknown>; status?: { phase?: string } }[];

  before(async () => {
    cluster = await testCluster("recovery");
    if (!cluster.controlPlane) throw new Error("this test restarts the control plane on a restored etcd: it needs the loopback control plane");
    writeFileSync(join(work, "velero-crds.yaml"), execFileSync(peer("VELERO_BIN"), ["install", "--crds-only", "--dry-run", "-o", "yaml"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }));
    await cluster.kubectl(["apply", "-f", join(work, "velero-crds.yaml")]);
    await cluster.kubectl(["create", "namespace", "velero"]);
    await cluster.kubectl(["create", "namespace", "shop"]);
  });

  let cleanup: (() => Promise<void>) | undefined;
  after(async () => cleanup?.());

  it("restores etcd, then volume data, stopping for the operator's steps, resuming after a kill, never repeating a step", async () => {
    await apply(cm("settings", "v1"));
    await apply(cm("doomed", "keep me"));

    // The backup and its pair, as Velero and the coordinator make them.
    const abort = new AbortController();
    const etcd = connectEtcd({ endpoints: [cluster.controlPlane!.etcdEndpoint] });
    const client = rawClient(await loadClusterConnection({ env: {}, kubeconfigPath: cluster.kubeconfigPath }));
    // As `twinsnap coordinator` does: the apiservers' own addresses go into the pair (restore plan probes them).
    const coordinator = new Coordinator({ client, store: new FilesystemStore(storeDir), etcd, veleroNamespace: "velero", log: silentLogger(), version: "test", apiserverEndpoints: await apiserverEndpoints(client, cluster.controlPlane!.server, { inCluster: false }) });
    const running = coordinator.start(abort.signal);
    cleanup = async () => {
      abort.abort();
      await running;
      etcd.close();
      client.close();
    };
    const atBackup = await shopObjects();
    await apply(JSON.stringify({ apiVersion: "velero.io/v1", kind: "Backup", metadata: { name: "before-incident", namespace: "velero" }, spec: {} }));
    await cluster.kubectl(["patch", "backups.velero.io", "before-incident", "-n", "velero", "--type=merge", "-p", '{"status":{"phase":"InProgress"}}']);
    await until("snapshot", () => pairOf("before-incident")?.snapshot !== undefined);
    await cluster.kubectl(["patch", "backups.velero.io", "before-incident", "-n", "velero", "--type=merge", "-p", '{"status":{"phase":"Completed"}}']);
    await until("paired", () => pairOf("before-incident")?.state === "Paired");
    abort.abort();
    await running;
    const pair = pairOf("before-incident")!;
    const rvBefore = JSON.parse(await cluster.kubectl(["get", "configmap", "settings", "-n", "shop", "-o", "json"])).metadata.resourceVersion as string;

    // The incident: a change, a deletion, an addition.
    await apply(cm("settings", "v2-broken"));
    await cluster.kubectl(["delete", "configmap", "doomed", "-n", "shop"]);
    await apply(cm("stray", "should not survive"));

    const where = ["--backup", "before-incident", "--store", store, "--kubeconfig", cluster.kubeconfigPath];
    const member = ["--name", "test", "--initial-advertise-peer-urls", cluster.controlPlane!.etcdPeerUrl, "--data-dir", dataDir, "--etcdutl", peer("ETCDUTL_BIN"), "--timeout", "300"];

    // A dry run prints exactly the plan `restore plan` prints, and changes nothing.
    const storeBefore = tree(storeDir);
    const plan = await twinsnap(["restore", "plan", ...where, ...member]).done;
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /^Path: same cluster/m);
    const dry = await twinsnap(["restore", "run", "--dry-run", ...where, ...member]).done;
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.stdout, `${plan.stdout}dry run: nothing was done\n`, "the same numbered steps from the same data");
    const forced = await twinsnap(["restore", "run", "--dry-run", "--mode", "new-cluster", ...where]).done;
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stderr, /warning: --mode new-cluster overrides the detected same-cluster \(the cluster answers with the identity the pair recorded/);
    assert.deepEqual(tree(storeDir), storeBefore, "a dry run writes nothing to the store");
    assert.equal(existsSync(dataDir), false, "a dry run restores nothing");

    // The control plane is lost.
    await cluster.controlPlane!.stopApiServerAndEtcd();
    rmSync(cluster.controlPlane!.etcdDataDir, { recursive: true, force: true });

    // The plan takes the same-cluster path only because the pair's own apiserver refuses; the run needs consent.
    const lostPlan = await twinsnap(["restore", "plan", ...where, ...member]).done;
    assert.match(lostPlan.stdout, /^Why: the backed-up cluster's apiserver does not answer \(https:\/\/127\.0\.0\.1:\d+ refuses connections\)/m);
    const unconfirmed = await twinsnap(["restore", "run", ...where, ...member]).done;
    assert.equal(unconfirmed.code, 2);
    assert.match(unconfirmed.stderr, /replaces this cluster's etcd .* rerun with --confirm-same-cluster/);
    assert.equal(existsSync(join(storeDir, "restores")), false, "nothing started without consent");

    // 1 (verify) is done; 2 (stop the control plane) is the operator's.
    const first = await twinsnap(["restore", "run", "--confirm-same-cluster", ...where, ...member]).done;
    assert.equal(first.code, 3, first.stdout + first.stderr);
    assert.match(first.stderr, /\[1\/6\] done in .*etcdutl reads revision \d+/);
    assert.match(first.stdout, /^Step 2 of 6 is yours to do:\n2\. \[you\] Stop the API servers and etcd on every control-plane node$/m);
    const toStop = printedContinue(first.stdout);
    assert.deepEqual(toStop.slice(-2), ["--continue", "stop-control-plane"]);

    // The plan shows how far the run got; a dry run now leaves the saved run as it is.
    const midway = tree(storeDir);
    const progress = await twinsnap(["restore", "plan", ...where]).done;
    assert.match(progress.stdout, /^1\. \[twinsnap\] Check the pair.* — done$/m);
    assert.match(progress.stdout, /^2\. \[you\] Stop the API servers.* — waiting for you$/m);
    assert.equal((await twinsnap(["restore", "run", "--dry-run", ...where]).done).stdout, `${progress.stdout}dry run: nothing was done (the run started at ${JSON.parse(readFileSync(join(storeDir, "restores", `${pair.backup.uid}.json`), "utf8")).startedAt} is left as it is)\n`);
    assert.deepEqual(tree(storeDir), midway);

    const wrong = await twinsnap(["restore", "run", ...where, "--continue", "start-control-plane"]).done;
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /--continue start-control-plane does not match the saved run: it waits at step 2, stop-control-plane/);
    const differently = await twinsnap(["restore", "run", ...where, "--data-dir", join(work, "elsewhere")]).done;
    assert.equal(differently.code, 2);
    assert.match(differently.stderr, /--data-dir .*elsewhere \(the run uses .*etcd-restored\)/);

    // The operator has stopped everything (the incident did): continue. 3 restores etcd; 4 is the operator's.
    const second = await twinsnap(toStop).done;
    assert.equal(second.code, 3, second.stdout + second.stderr);
    assert.match(second.stderr, /\[1\/6\] .*: done earlier/);
    assert.match(second.stderr, /\[3\/6\] done in .*member test restored into/);
    assert.ok(existsSync(join(dataDir, "member", "snap", "db")), "etcd's data directory restored");
    assert.match(second.stdout, new RegExp(`^4\\. \\[you\\] Point etcd at ${dataDir} and start it on every member, then the API servers$`, "m"));
    const toStart = printedContinue(second.stdout);

    // As the step says: etcd on the restored data directory, then the API server.
    await cluster.controlPlane!.startOnEtcdData(dataDir);
    const db = statSync(join(dataDir, "member", "snap", "db"));

    // 5 waits for the apiserver; 6 is Velero's part. The Backup came back from etcd as it was while the backup ran;
    // the run removes it and Velero's backup sync (played here) lists it again from the storage location.
    const third = twinsnap(toStart);
    await until("the run removes the stale Backup", async () => (await veleroObjects("backups.velero.io")).length === 0 || third.child.exitCode !== null);
    assert.equal(third.child.exitCode, null, third.stderr());
    assert.match(third.stderr(), /Backup before-incident is back from etcd as InProgress: removed it/);
    writeFileSync(join(work, "synced-backup.json"), JSON.stringify({ apiVersion: "velero.io/v1", kind: "Backup", metadata: { name: "before-incident", namespace: "velero" }, spec: {}, status: { phase: "Completed" } }));
    await cluster.kubectl(["create", "-f", join(work, "synced-backup.json")]);
    const restore = await until("a Restore", async () => (await veleroObjects("restores.velero.io"))[0]);
    assert.equal(restore.metadata.name, "before-incident-volumes");
    assert.deepEqual(restore.spec, { backupName: "before-incident", includedResources: ["persistentvolumeclaims", "persistentvolumes", "pods"], existingResourcePolicy: "none" }, "volume data only, as the plan prints");

    // Interrupted mid-step: the run is killed while it follows the Restore.
    await until("the run follows the Restore", () => /restore before-incident-volumes: New/.test(third.stderr()));
    third.child.kill("SIGKILL");
    assert.equal((await third.done).signal, "SIGKILL");

    const resumed = twinsnap(["restore", "run", ...where]);
    await until("the resumed run follows the same Restore", () => /following Restore velero\/before-incident-volumes, created by an earlier run/.test(resumed.stderr()) || resumed.child.exitCode !== null);
    const phase = (status: object) => cluster.kubectl(["patch", "restores.velero.io", "before-incident-volumes", "-n", "velero", "--type=merge", "-p", JSON.stringify({ status })]);
    await phase({ phase: "InProgress", progress: { totalItems: 3, itemsRestored: 1 } });
    await phase({ phase: "Completed", progress: { totalItems: 3, itemsRestored: 3 }, warnings: 0, errors: 0 });
    const last = await resumed.done;
    assert.equal(last.code, 0, last.stdout + last.stderr);
    for (const n of [1, 2, 3, 4, 5]) assert.match(last.stderr, new RegExp(`^\\[${n}/6\\] .*: done earlier`, "m"));
    assert.doesNotMatch(last.stderr, /\[[1-5]\/6\] done in/, "no finished step runs again");
    assert.match(last.stdout, /^Recovery from backup before-incident \(same-cluster\) finished: 6 steps/m);
    assert.match(last.stdout, /6\. restore-volumes: Restore before-incident-volumes from backup before-incident: Completed, 0 warning\(s\), 0 error\(s\)/);
    assert.equal((await veleroObjects("restores.velero.io")).length, 1, "no second Restore");
    assert.deepEqual(statSync(join(dataDir, "member", "snap", "db")).ino, db.ino, "etcd was not restored again");

    const state = JSON.parse(readFileSync(join(storeDir, "restores", `${pair.backup.uid}.json`), "utf8")) as RestoreRunState;
    assert.equal(state.apiVersion, "twinsnap.dev/v1alpha1");
    assert.equal(state.kind, "RestoreRun");
    assert.equal(state.restoredDataDir, dataDir);
    assert.equal(state.restoreName, "before-incident-volumes");
    assert.ok(state.finishedAt);
    assert.deepEqual(Object.keys(state.steps), ["verify-snapshot", "stop-control-plane", "restore-etcd", "start-control-plane", "wait-apiserver", "restore-volumes"]);

    // The cluster is back at the backup's moment: the same objects, with their uids, and nothing made later.
    assert.deepEqual(await shopObjects(), atBackup);
    const list = JSON.parse(await cluster.kubectl(["get", "--raw", "/api/v1/namespaces/shop/configmaps"]));
    assert.ok(Number(list.metadata.resourceVersion) >= Number(pair.snapshot!.revision) + 1_000_000_000, `revision bumped past everything a watcher saw: list at ${list.metadata.resourceVersion}, snapshot at ${pair.snapshot!.revision}`);

    // A watcher resuming from a resourceVersion it saw before the restore is told its history is gone (410).
    const after = rawClient(await loadClusterConnection({ env: {}, kubeconfigPath: cluster.kubeconfigPath }));
    try {
      const events = after.watch<{ type: string; object: { code?: number } }>(`/api/v1/namespaces/shop/configmaps?watch=1&resourceVersion=${rvBefore}`);
      const first = await events.next();
      assert.equal(first.value?.type, "ERROR");
      assert.equal(first.value?.object.code, 410);
      await events.return(undefined);
    } catch (err) {
      assert.match(String(err), /410|Gone|too old/, "an HTTP 410 answers the stale watch too");
    } finally {
      after.close();
    }
  });
});
