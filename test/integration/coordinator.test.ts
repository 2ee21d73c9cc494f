// The coordinator on a real control plane: Velero's CRDs installed from Velero itself, Backup objects whose
// phases the test moves as Velero would, and the cluster's own etcd snapshotted into a file store.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import type { PairRecord } from "../../src/pairs/pair-record.js";
import { connectEtcd } from "../../src/etcd/etcd-client.js";
import { loadClusterConnection } from "../../src/kube/kubeconfig.js";
import { rawClient } from "../../src/kube/raw-client.js";
import { silentLogger } from "../../src/log/logger.js";
import { FilesystemStore } from "../../src/store/filesystem-store.js";
import { peer } from "../support/peers.js";
import { freePort } from "../support/control-plane.js";
import { REPO_ROOT } from "../support/fixtures.js";
import { spawn } from "node:child_process";
import { testCluster, type TestCluster } from "../support/test-clusters.js";

describe("the coordinator pairs Velero backups with etcd snapshots", function () {
  this.timeout(300_000);
  let cluster: TestCluster;
  let storeDir: string;

  const until = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const records = (): PairRecord[] =>
    (existsSync(join(storeDir, "pairs")) ? readdirSync(join(storeDir, "pairs"), { withFileTypes: true }) : [])
      .filter((e) => e.isFile() && e.name.endsWith(".json"))
      .map((e) => JSON.parse(readFileSync(join(storeDir, "pairs", e.name), "utf8")) as PairRecord);
  const recordOf = (name: string) => records().find((r) => r.backup.name === name);
  const createBackup = async (name: string) => {
    const file = join(storeDir, `${name}.json`);
    writeFileSync(file, JSON.stringify({ apiVersion: "velero.io/v1", kind: "Backup", metadata: { name, namespace: "velero", labels: { "velero.io/schedule-name": "nightly" } }, spec: { storageLocation: "default", includedNamespaces: ["*"] } }));
    await cluster.kubectl(["create", "-f", file]);
  };
  const setPhase = (name: string, phase: string) =>
    // Velero's Backup CRD has no status subresource: Velero writes status with the object, and so does this test.
    cluster.kubectl(["patch", "backups.velero.io", name, "-n", "velero", "--type=merge", "-p", JSON.stringify({ status: { phase } })]);

  function startCoordinator(etcdEndpoint = cluster.controlPlane!.etcdEndpoint, extra: { retentionGraceMs?: number; gcIntervalMs?: number } = {}) {
    const abort = new AbortController();
    const etcd = connectEtcd({ endpoints: [etcdEndpoint], dialTimeoutMs: 1000 });
    const running = loadClusterConnection({ env: {}, kubeconfigPath: cluster.kubeconfigPath }).then((conn) => {
      const client = rawClient(conn);
      const coordinator = new Coordinator({ client, store: new FilesystemStore(storeDir), etcd, veleroNamespace: "velero", log: silentLogger(), version: "test", retry: { attempts: 2, firstDelayMs: 10 }, ...extra });
      return coordinator.start(abort.signal).finally(() => (etcd.close(), client.close()));
    });
    return { stop: async () => (abort.abort(), running) };
  }

  before(async () => {
    cluster = await testCluster("coordinator");
    if (!cluster.controlPlane) throw new Error("the coordinator test needs the loopback control plane (it snapshots that cluster's etcd)");
    storeDir = mkdtempSync(join(tmpdir(), "twinsnap-pairs-"));
    const crds = execFileSync(peer("VELERO_BIN"), ["install", "--crds-only", "--dry-run", "-o", "yaml"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    writeFileSync(join(storeDir, "velero-crds.yaml"), crds);
    await cluster.kubectl(["apply", "-f", join(storeDir, "velero-crds.yaml")]);
    await cluster.kubectl(["wait", "--for=condition=Established", "crd/backups.velero.io"]);
    await cluster.kubectl(["create", "namespace", "velero"]);
  });

  it("snapshots when the backup starts and pairs when Velero completes it; failed backups are marked", async () => {
    const coordinator = startCoordinator();
    try {
      await createBackup("b1");
      await until("b1 Pending", () => recordOf("b1")?.state === "Pending");
      await setPhase("b1", "InProgress");
      await until("b1 snapshot", () => recordOf("b1")?.snapshot !== undefined);
      assert.equal(recordOf("b1")!.state, "Snapshotting");
      await setPhase("b1", "Completed");
      await until("b1 Paired", () => recordOf("b1")?.state === "Paired");
      const r = recordOf("b1")!;
      assert.equal(r.snapshotTiming, "during-backup");
      assert.equal(r.backup.schedule, "nightly");
      assert.equal(r.backup.phase, "Completed", "the record says how the backup ended, not how an earlier record saw it");
      assert.match(r.clusterIdentity, /^[0-9a-f-]{36}$/);
      assert.ok(Number(r.snapshot!.revision) > 0);
      const annotations = JSON.parse(await cluster.kubectl(["get", "backups.velero.io", "b1", "-n", "velero", "-o", "jsonpath={.metadata.annotations}"]));
      assert.equal(annotations["twinsnap.dev/pair-state"], "Paired");
      assert.equal(annotations["twinsnap.dev/etcd-revision"], r.snapshot!.revision);

      await createBackup("b2");
      await setPhase("b2", "InProgress");
      await setPhase("b2", "Failed");
      await until("b2 BackupFailed", () => recordOf("b2")?.state === "BackupFailed");
    } finally {
      await coordinator.stop();
    }
  });

  it("after a restart, pairs what finished while it was down, once", async () => {
    await createBackup("b3");
    await setPhase("b3", "InProgress");
    await setPhase("b3", "Completed");
    const coordinator = startCoordinator();
    try {
      await until("b3 Paired", () => recordOf("b3")?.state === "Paired");
      assert.equal(recordOf("b3")!.snapshotTiming, "after-backup");
    } finally {
      await coordinator.stop();
    }
    const names = records().map((r) => r.backup.name).sort();
    assert.deepEqual(names, ["b1", "b2", "b3"], "one record per backup, nothing duplicated");
    assert.deepEqual(readdirSync(join(storeDir, "snapshots")).filter((f) => f.includes("partial")), []);
  });

  it("etcd unreachable: after its retries the pair is Failed with the reason, and the backup is left alone", async () => {
    const coordinator = startCoordinator("http://127.0.0.1:1");
    try {
      await createBackup("no-etcd");
      await setPhase("no-etcd", "InProgress");
      await until("no-etcd Failed", () => recordOf("no-etcd")?.state === "Failed");
      assert.match(recordOf("no-etcd")!.reason!, /after 2 attempt\(s\).*etcd is not reachable/);
      assert.equal(recordOf("no-etcd")!.snapshot, undefined);
      const annotations = JSON.parse(await cluster.kubectl(["get", "backups.velero.io", "no-etcd", "-n", "velero", "-o", "jsonpath={.metadata.annotations}"]));
      assert.equal(annotations["twinsnap.dev/pair-state"], "Failed");
      assert.match(annotations["twinsnap.dev/pair-reason"], /not reachable/);
    } finally {
      await coordinator.stop();
    }
  });

  it("velero backup delete: the pair goes too after the grace period; another cluster's pairs never do", async () => {
    const foreign = { ...recordOf("b1")!, backup: { ...recordOf("b1")!.backup, name: "from-another-cluster", uid: "00000000-0000-0000-0000-000000000001" }, clusterIdentity: "another-cluster" };
    writeFileSync(join(storeDir, "pairs", `${foreign.backup.uid}.json`), JSON.stringify(foreign));
    const b2 = recordOf("b2")!;
    const coordinator = startCoordinator(undefined, { retentionGraceMs: 0, gcIntervalMs: 100 });
    try {
      await cluster.kubectl(["delete", "backups.velero.io", "b2", "-n", "velero"]);
      await until("b2's pair removed", () => !existsSync(join(storeDir, "pairs", `${b2.backup.uid}.json`)));
      assert.ok(!existsSync(join(storeDir, b2.snapshot!.key)));
      assert.deepEqual(existsSync(join(storeDir, "snapshots", b2.backup.uid)) ? readdirSync(join(storeDir, "snapshots", b2.backup.uid)) : [], []);
      assert.ok(recordOf("b1"), "pairs of existing backups stay");
      assert.ok(recordOf("from-another-cluster"), "a pair made by another cluster is not this coordinator's to remove");
    } finally {
      await coordinator.stop();
    }
  });

  it("runs as `twinsnap coordinator`, with /readyz and Prometheus metrics, and stops on SIGTERM", async () => {
    const port = await freePort();
    const child = spawn(join(REPO_ROOT, "bin", "twinsnap.js"), [
      "coordinator",
      "--kubeconfig", cluster.kubeconfigPath,
      "--etcd-endpoints", cluster.controlPlane!.etcdEndpoint,
      "--store", `file://${storeDir}`,
      "--metrics-address", `127.0.0.1:${port}`,
    ], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    const exited = new Promise<number | null>((r) => child.once("exit", r));
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`).catch(() => undefined);
      return res ? { status: res.status, text: await res.text() } : { status: 0, text: "" };
    };
    try {
      await until("ready", async () => (await get("/readyz")).status === 200);
      assert.equal((await get("/healthz")).status, 200);
      await createBackup("via-cli");
      await setPhase("via-cli", "InProgress");
      await until("via-cli snapshot", () => recordOf("via-cli")?.snapshot !== undefined);
      await setPhase("via-cli", "Completed");
      await until("via-cli Paired", () => recordOf("via-cli")?.state === "Paired");
      const metrics = (await get("/metrics")).text;
      assert.match(metrics, /^twinsnap_pairs\{state="Paired"\} [1-9]\d*$/m);
      assert.match(metrics, /^twinsnap_snapshot_duration_seconds_count [1-9]\d*$/m);
      assert.match(metrics, /^twinsnap_last_success_timestamp_seconds [1-9]/m);
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited, 0, output);
  });

  it("a managed control plane without etcd access: pairs record why there is no snapshot, and still pair", async () => {
    const abort = new AbortController();
    const client = rawClient(await loadClusterConnection({ env: {}, kubeconfigPath: cluster.kubeconfigPath }));
    const coordinator = new Coordinator({ client, store: new FilesystemStore(storeDir), etcd: { unavailable: "EKS: etcd is managed by AWS" }, veleroNamespace: "velero", log: silentLogger(), version: "test" });
    const running = coordinator.start(abort.signal);
    try {
      await createBackup("managed");
      await setPhase("managed", "InProgress");
      await setPhase("managed", "Completed");
      await until("managed Paired", () => recordOf("managed")?.state === "Paired");
      assert.deepEqual(recordOf("managed")!.etcd, { available: false, reason: "EKS: etcd is managed by AWS" });
      assert.equal(recordOf("managed")!.snapshot, undefined);
    } finally {
      abort.abort();
      await running;
      client.close();
    }
  });

  it("a Backup Velero syncs back from its storage location (a new uid) keeps its pair: no second snapshot, annotated with it", async () => {
    const status = (phase: string) => JSON.stringify({ status: { phase, startTimestamp: "2026-11-30T01:00:00Z", ...(phase === "Completed" ? { completionTimestamp: "2026-11-30T01:00:09Z" } : {}) } });
    const coordinator = startCoordinator();
    try {
      await createBackup("synced-back");
      await cluster.kubectl(["patch", "backups.velero.io", "synced-back", "-n", "velero", "--type=merge", "-p", status("InProgress")]);
      await until("synced-back snapshot", () => recordOf("synced-back")?.snapshot !== undefined);
      await cluster.kubectl(["patch", "backups.velero.io", "synced-back", "-n", "velero", "--type=merge", "-p", status("Completed")]);
      await until("synced-back Paired", () => recordOf("synced-back")?.state === "Paired");
      const original = recordOf("synced-back")!;

      // The object is lost (kubectl delete, or an etcd restore brought it back unfinished and it was deleted);
      // Velero's backup sync creates it again from the bucket: same name and start, Completed, a new uid.
      await cluster.kubectl(["delete", "backups.velero.io", "synced-back", "-n", "velero"]);
      const synced = join(storeDir, "synced-back.json");
      writeFileSync(synced, JSON.stringify({ apiVersion: "velero.io/v1", kind: "Backup", metadata: { name: "synced-back", namespace: "velero" }, spec: { storageLocation: "default" }, ...JSON.parse(status("Completed")) }));
      await cluster.kubectl(["create", "-f", synced]);
      const annotationsOf = async () => JSON.parse(await cluster.kubectl(["get", "backups.velero.io", "synced-back", "-n", "velero", "-o", "jsonpath={.metadata.annotations}"]) || "{}");
      await until("the synced Backup annotated", async () => (await annotationsOf())["twinsnap.dev/pair-state"] === "Paired");
      const annotations = await annotationsOf();
      assert.match(annotations["twinsnap.dev/pair-record"], new RegExp(`/pairs/${original.backup.uid}\\.json$`));
      assert.equal(annotations["twinsnap.dev/snapshot-sha256"], original.snapshot!.snapshotSha256);
      assert.deepEqual(records().filter((r) => r.backup.name === "synced-back").map((r) => r.backup.uid), [original.backup.uid], "one pair for the backup, the one taken while it ran");
    } finally {
      await coordinator.stop();
    }
  });

  it("200 backups at once: every one gets exactly one Paired record", async () => {
    const coordinator = startCoordinator();
    try {
      const burst = Array.from({ length: 200 }, (_, i) => `burst-${i}`);
      const file = join(storeDir, "burst.json");
      writeFileSync(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: burst.map((name) => ({ apiVersion: "velero.io/v1", kind: "Backup", metadata: { name, namespace: "velero" }, spec: {}, status: { phase: "InProgress" } })) }));
      await cluster.kubectl(["create", "-f", file]);
      await until("burst snapshots", () => burst.every((n) => recordOf(n)?.snapshot !== undefined), 180_000);
      for (let i = 0; i < burst.length; i += 20) await Promise.all(burst.slice(i, i + 20).map((n) => setPhase(n, "Completed")));
      await until("burst Paired", () => burst.every((n) => recordOf(n)?.state === "Paired"), 180_000);
      assert.equal(records().filter((r) => r.backup.name.startsWith("burst-")).length, 200);
    } finally {
      await coordinator.stop();
    }
  });

  it("twinsnap pairs list, show and verify read the store; verify finds a damaged snapshot and a failed pair", async () => {
    const tw = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(join(REPO_ROOT, "bin", "twinsnap.js"), args, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
      });
    const store = `file://${storeDir}`;
    const list = await tw(["pairs", "list", "--store", store, "-o", "json"]);
    assert.equal(list.code, 0, list.stderr);
    const listed = JSON.parse(list.stdout) as PairRecord[];
    assert.ok(listed.some((r) => r.backup.name === "b1" && r.state === "Paired"));
    const table = await tw(["pairs", "list", "--store", store]);
    assert.match(table.stdout, /^BACKUP\s+STATE\s+VELERO PHASE\s+ETCD REVISION/m);
    assert.match((await tw(["pairs", "show", "b1", "--store", store])).stdout, /name: b1/);

    const ok = await tw(["pairs", "verify", "b1", "--store", store, "--etcdutl", peer("ETCDUTL_BIN"), "--kubeconfig", cluster.kubeconfigPath]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^OK\s+b1 \(Paired, revision \d+\)$/m);

    writeFileSync(join(storeDir, recordOf("b3")!.snapshot!.key), "not a snapshot any more");
    const bad = await tw(["pairs", "verify", "b3", "no-etcd", "--store", store]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^PROBLEM\s+b3 .*(incorrect header|does not read back)/m);
    assert.match(bad.stdout, /^PROBLEM\s+no-etcd \(Failed\): no snapshot: .*not reachable/m);

    const plan = await tw(["restore", "plan", "--backup", "b1", "--store", store, "--kubeconfig", cluster.kubeconfigPath]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /^Path: same cluster/m, "the kubeconfig reaches the cluster the pair recorded");
    assert.match(plan.stdout, /twinsnap etcd restore --backup b1/);
  });
});
