// New-cluster migration with `twinsnap restore run`: the test plays Velero (it lists the synced Backup and moves
// the Restore's phase), twinsnap checks Velero's API is there, creates the Restore `velero restore create` would,
// follows it to the end, and a rerun repeats nothing.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../support/fixtures.js";
import { peer } from "../support/peers.js";
import { testCluster, type TestCluster } from "../support/test-clusters.js";

function twinsnap(args: string[]): { done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(join(REPO_ROOT, "bin", "twinsnap.js"), args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  return { done: new Promise((resolve) => child.once("exit", (code) => resolve({ code, stdout, stderr }))) };
}

describe("twinsnap restore run into a new cluster", function () {
  this.timeout(180_000);
  let target: TestCluster;
  const work = mkdtempSync(join(tmpdir(), "twinsnap-migrate-run-"));
  const store = join(work, "store");
  const restores = async () => JSON.parse(await target.kubectl(["get", "restores.velero.io", "-n", "velero", "-o", "json"])).items as { metadata: { name: string }; spec: { backupName: string } }[];
  const pair = (name: string, uid: string, clusterIdentity: string) => {
    mkdirSync(join(store, "pairs"), { recursive: true });
    writeFileSync(
      join(store, "pairs", `${uid}.json`),
      JSON.stringify({ apiVersion: "twinsnap.dev/v1alpha1", kind: "PairRecord", backup: { name, namespace: "velero", uid, phase: "Completed" }, state: "Paired", clusterIdentity, coordinatorVersion: "test", updatedAt: "2026-11-24T00:00:00Z" }),
    );
  };

  before(async () => {
    target = await testCluster("migration-target");
    writeFileSync(join(work, "velero-crds.yaml"), execFileSync(peer("VELERO_BIN"), ["install", "--crds-only", "--dry-run", "-o", "yaml"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }));
    await target.kubectl(["apply", "-f", join(work, "velero-crds.yaml")]);
    await target.kubectl(["create", "namespace", "velero"]);
  });

  it("waits for the synced backup, creates the Restore, follows it to Completed, and a rerun repeats nothing", async () => {
    pair("shop-nightly", "11111111-2222-3333-4444-555555555555", "the-old-cluster");
    const args = ["restore", "run", "--backup", "shop-nightly", "--store", `file://${store}`, "--kubeconfig", target.kubeconfigPath];
    const run = twinsnap(args);
    // Velero's backup sync lists the backup from the storage location.
    writeFileSync(join(work, "backup.json"), JSON.stringify({ apiVersion: "velero.io/v1", kind: "Backup", metadata: { name: "shop-nightly", namespace: "velero" }, spec: {}, status: { phase: "Completed" } }));
    await target.kubectl(["create", "-f", join(work, "backup.json")]);
    let created: { metadata: { name: string }; spec: { backupName: string } } | undefined;
    for (let i = 0; i < 150 && !created; i++) {
      created = (await restores())[0];
      if (!created) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(created, "a Restore was created");
    assert.equal(created.spec.backupName, "shop-nightly");
    const phase = (status: object) => target.kubectl(["patch", "restores.velero.io", created!.metadata.name, "-n", "velero", "--type=merge", "-p", JSON.stringify({ status })]);
    await phase({ phase: "InProgress", progress: { totalItems: 40, itemsRestored: 12 } });
    await phase({ phase: "Completed", progress: { totalItems: 40, itemsRestored: 40 }, warnings: 0, errors: 0 });
    const result = await run.done;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /2\. restore-objects: Restore shop-nightly-migrate from backup shop-nightly: Completed, 0 warning\(s\), 0 error\(s\)/);
    assert.match(result.stderr, /\[1\/2\] done in .*: found done/, "Velero's API is there: the install step holds without stopping");
    assert.match(result.stderr, /Completed \(40\/40 items\)/);

    assert.equal(created.metadata.name, "shop-nightly-migrate", "the name the plan prints");

    const again = await twinsnap(args).done;
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /^\[2\/2\] .*: done earlier/m);
    assert.match(again.stdout, /^Recovery from backup shop-nightly \(new-cluster\) finished/m);
    assert.equal((await restores()).length, 1, "no second Restore");
  });

  it("in the very cluster the pair came from, without a snapshot, refuses before doing anything and says why", async () => {
    const identity = JSON.parse(await target.kubectl(["get", "namespace", "kube-system", "-o", "json"])).metadata.uid as string;
    pair("local-backup", "66666666-2222-3333-4444-555555555555", identity);
    const result = await twinsnap(["restore", "run", "--backup", "local-backup", "--store", `file://${store}`, "--kubeconfig", target.kubeconfigPath]).done;
    assert.equal(result.code, 2);
    assert.match(result.stderr, /restore run cannot start: backup local-backup has no etcd snapshot .*only the Velero path is possible \(--mode new-cluster\)/);
    assert.match(result.stderr, /^1\. \[twinsnap\] Check the pair/m, "and prints the plan");
    assert.equal(existsSync(join(store, "restores", "66666666-2222-3333-4444-555555555555.json")), false, "no run was started");
  });
});
