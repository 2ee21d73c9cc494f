// Same-cluster recovery, end to end: a backup is paired with an etcd snapshot by the coordinator, objects are
// then changed and deleted, and `twinsnap etcd restore` brings the control plane back to the backup's moment —
// with the revision bumped and compacted, so a watcher resuming from before the restore is told to re-list.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import type { PairRecord } from "../../src/coordinator/pair-record.js";
import { connectEtcd } from "../../src/etcd/etcd-client.js";
import { loadClusterConnection } from "../../src/kube/kubeconfig.js";
import { rawClient } from "../../src/kube/raw-client.js";
import { silentLogger } from "../../src/log/logger.js";
import { FilesystemStore } from "../../src/store/filesystem-store.js";
import { REPO_ROOT } from "../support/fixtures.js";
import { peer } from "../support/peers.js";
import { testCluster, type TestCluster } from "../support/test-clusters.js";

const run = promisify(execFile);

describe("control-plane recovery from the snapshot paired with a backup", function () {
  this.timeout(300_000);
  let cluster: TestCluster;
  const work = mkdtempSync(join(tmpdir(), "twinsnap-recovery-"));
  const storeDir = join(work, "store");
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
  const until = async (what: string, check: () => boolean) => {
    for (let i = 0; i < 600 && !check(); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(check(), what);
  };

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

  it("brings the objects back to the backup's moment and makes watchers re-list", async () => {
    await apply(cm("settings", "v1"));
    await apply(cm("doomed", "keep me"));

    // The backup and its pair, as Velero and the coordinator make them.
    const abort = new AbortController();
    const etcd = connectEtcd({ endpoints: [cluster.controlPlane!.etcdEndpoint] });
    const client = rawClient(await loadClusterConnection({ env: {}, kubeconfigPath: cluster.kubeconfigPath }));
    const coordinator = new Coordinator({ client, store: new FilesystemStore(storeDir), etcd, veleroNamespace: "velero", log: silentLogger(), version: "test" });
    const running = coordinator.start(abort.signal);
    cleanup = async () => {
      abort.abort();
      await running;
      etcd.close();
      client.close();
    };
    await apply(JSON.stringify({ apiVersion: "velero.io/v1", kind: "Backup", metadata: { name: "before-incident", namespace: "velero" }, spec: {} }));
    await cluster.kubectl(["patch", "backups.velero.io", "before-incident", "-n", "velero", "--type=merge", "-p", '{"status":{"phase":"InProgress"}}']);
    await until("snapshot", () => pairOf("before-incident")?.snapshot !== undefined);
    await cluster.kubectl(["patch", "backups.velero.io", "before-incident", "-n", "velero", "--type=merge", "-p", '{"status":{"phase":"Completed"}}']);
    await until("paired", () => pairOf("before-incident")?.state === "Paired");
    abort.abort();
    await running;
    const pair = pairOf("before-incident")!;
    const rvBefore = JSON.parse(await cluster.kubectl(["get", "configmap", "settings", "-n", "shop", "-o", "json"])).metadata.resourceVersion as string;

    // The incident.
    await apply(cm("settings", "v2-broken"));
    await cluster.kubectl(["delete", "configmap", "doomed", "-n", "shop"]);
    await apply(cm("stray", "should not survive"));

    // Recovery, as the restore plan says: restore etcd from the pair into a new data directory, restart on it.
    const dataDir = join(work, "etcd-restored");
    await run(join(REPO_ROOT, "bin", "twinsnap.js"), [
      "etcd", "restore", "--backup", "before-incident", "--store", `file://${storeDir}`,
      "--name", "test", "--initial-advertise-peer-urls", "http://127.0.0.1:2380", "--data-dir", dataDir, "--etcdutl", peer("ETCDUTL_BIN"),
    ]);
    await cluster.controlPlane!.restartOnEtcdData(dataDir);

    const settings = JSON.parse(await cluster.kubectl(["get", "configmap", "settings", "-n", "shop", "-o", "json"]));
    assert.equal(settings.data.value, "v1", "changes after the backup are undone");
    assert.equal(JSON.parse(await cluster.kubectl(["get", "configmap", "doomed", "-n", "shop", "-o", "json"])).data.value, "keep me", "deletions after the backup are undone");
    await assert.rejects(cluster.kubectl(["get", "configmap", "stray", "-n", "shop"]), /not found/, "objects made after the backup are gone");
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
