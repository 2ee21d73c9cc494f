// Shared snapshots for bursts (--share-window) on a real kube-apiserver and its etcd: backups that Velero starts
// together reference one snapshot, each still gets exactly one Paired record, and retention keeps a snapshot while
// any pair references it. `pairs verify` and `etcd restore --backup` work for every backup of the group.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { connectEtcd } from "../../src/etcd/etcd-client.js";
import { loadClusterConnection } from "../../src/kube/kubeconfig.js";
import { rawClient } from "../../src/kube/raw-client.js";
import { silentLogger } from "../../src/log/logger.js";
import { FilesystemStore } from "../../src/store/filesystem-store.js";
import { REPO_ROOT } from "../support/fixtures.js";
import { peer } from "../support/peers.js";
import { testCluster, type TestCluster } from "../support/test-clusters.js";
import { installVelero, pairRecords, snapshotFiles, until, veleroBackups } from "../support/velero-backups.js";

function twinsnap(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(join(REPO_ROOT, "bin", "twinsnap.js"), args, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

describe("shared snapshots for bursts (real etcd and kube-apiserver)", function () {
  this.timeout(300_000);
  let cluster: TestCluster;
  let storeDir: string;
  let backups: ReturnType<typeof veleroBackups>;
  const burst = Array.from({ length: 10 }, (_, i) => `burst-${i}`);
  const records = () => pairRecords(storeDir);
  const recordOf = (name: string) => records().find((r) => r.backup.name === name);
  const snapshots = () => snapshotFiles(storeDir).filter((f) => f.endsWith(".db.zst"));

  function startCoordinator(extra: { retentionGraceMs?: number; gcIntervalMs?: number } = {}) {
    const abort = new AbortController();
    const etcd = connectEtcd({ endpoints: [cluster.controlPlane!.etcdEndpoint], dialTimeoutMs: 1000 });
    const running = loadClusterConnection({ env: {}, kubeconfigPath: cluster.kubeconfigPath }).then((conn) => {
      const client = rawClient(conn);
      const coordinator = new Coordinator({ client, store: new FilesystemStore(storeDir), etcd, veleroNamespace: "velero", log: silentLogger(), version: "test", shareWindowMs: 30_000, concurrency: 2, ...extra });
      return coordinator.start(abort.signal).finally(() => (etcd.close(), client.close()));
    });
    return { stop: async () => (abort.abort(), running) };
  }

  before(async () => {
    cluster = await testCluster("coordinator-sharing");
    if (!cluster.controlPlane) throw new Error("the sharing test needs the loopback control plane (it snapshots that cluster's etcd)");
    storeDir = mkdtempSync(join(tmpdir(), "twinsnap-sharing-"));
    await installVelero(cluster, storeDir);
    backups = veleroBackups(cluster, storeDir);
  });

  after(() => storeDir && rmSync(storeDir, { recursive: true, force: true }));

  it("10 backups started together with a 30 s window share one snapshot; each has exactly one Paired record", async () => {
    const coordinator = startCoordinator();
    const startedAt = new Date();
    const iso = (d: Date) => d.toISOString().replace(/\.\d+Z$/, "Z");
    try {
      await backups.create(burst, { phase: "InProgress", startTimestamp: iso(startedAt) });
      // One more, started two minutes later: outside the window, its own snapshot.
      await backups.create(["later"], { phase: "InProgress", startTimestamp: iso(new Date(startedAt.getTime() + 120_000)) });
      await until("every backup has a snapshot", () => [...burst, "later"].every((n) => recordOf(n)?.snapshot !== undefined));
      for (const name of [...burst, "later"]) await backups.setStatus(name, { phase: "Completed" });
      await until("every backup Paired", () => [...burst, "later"].every((n) => recordOf(n)?.state === "Paired"));
    } finally {
      await coordinator.stop();
    }
    const group = records().filter((r) => r.backup.name.startsWith("burst-"));
    assert.equal(group.length, 10, "exactly one record per backup");
    const keys = new Set(group.map((r) => r.snapshot!.key));
    assert.equal(keys.size, 1, "the burst shares one snapshot");
    const owner = group.find((r) => !r.sharedSnapshot)!;
    assert.ok(owner.snapshot!.key.startsWith(`snapshots/${owner.backup.uid}/`), `taken for the first of the burst: ${owner.snapshot!.key}`);
    for (const r of group.filter((g) => g !== owner)) {
      assert.deepEqual(r.sharedSnapshot, { key: owner.snapshot!.key, takenFor: { name: owner.backup.name, uid: owner.backup.uid }, windowSeconds: 30 });
      assert.equal(r.snapshotTiming, "during-backup");
    }
    assert.equal(recordOf("later")!.sharedSnapshot, undefined);
    assert.equal(snapshots().length, 2, "one for the burst, one for the later backup: 2 streams instead of 11");
    assert.deepEqual(snapshotFiles(storeDir).filter((f) => f.includes("partial")), []);

    const verified = await twinsnap(["pairs", "verify", ...burst, "--store", `file://${storeDir}`, "--etcdutl", peer("ETCDUTL_BIN")]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.equal(verified.stdout.match(/^OK /gm)?.length, 10, verified.stdout);
    const list = await twinsnap(["pairs", "list", "--store", `file://${storeDir}`]);
    assert.match(list.stdout, new RegExp(`^burst-\\d\\s.*shared with ${owner.backup.name}`, "m"));
  });

  it("deleting backups of a shared group never removes the snapshot while another pair references it", async () => {
    const group = records().filter((r) => r.backup.name.startsWith("burst-"));
    const owner = group.find((r) => !r.sharedSnapshot)!;
    const key = owner.snapshot!.key;
    const sharers = group.filter((r) => r !== owner).map((r) => r.backup.name);
    const firstGone = [owner.backup.name, ...sharers.slice(0, 4)];
    const remaining = sharers.slice(4);
    const coordinator = startCoordinator({ retentionGraceMs: 0, gcIntervalMs: 100 });
    try {
      await backups.delete(firstGone);
      await until("their pairs removed", () => firstGone.every((n) => !recordOf(n)));
      assert.ok(existsSync(join(storeDir, key)), "the owner's backup is gone, its snapshot stays for the other pairs");

      const verified = await twinsnap(["pairs", "verify", ...remaining, "--store", `file://${storeDir}`, "--etcdutl", peer("ETCDUTL_BIN")]);
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
      const dataDir = join(storeDir, "restored-member");
      const restored = await twinsnap(["etcd", "restore", "--backup", remaining[0]!, "--store", `file://${storeDir}`, "--name", "test", "--data-dir", dataDir, "--etcdutl", peer("ETCDUTL_BIN")]);
      assert.equal(restored.code, 0, restored.stderr);
      assert.match(restored.stderr, new RegExp(`from file://.*/${key.replace(/\./g, "\\.")} \\(etcd revision ${owner.snapshot!.revision},`));

      await backups.delete(remaining);
      await until("the last pairs removed", () => remaining.every((n) => !recordOf(n)));
      await until("the shared snapshot removed with its last pair", () => !existsSync(join(storeDir, key)));
    } finally {
      await coordinator.stop();
    }
    assert.ok(recordOf("later"), "a pair outside the group is untouched");
    assert.deepEqual(snapshots(), [recordOf("later")!.snapshot!.key.slice("snapshots/".length)]);
  });
});
