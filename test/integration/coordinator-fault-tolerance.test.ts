// The coordinator and its leader election on a real apiserver, under the faults a cluster brings: a connection
// that stalls (a loopback proxy the test stops), a clock that runs ahead, records that parse but are not records,
// a failed identity lookup, a half-open Backup watch, two Velero installs sharing one store, a Backup list that
// comes back empty once. Each of these broke pairing (or worse) before.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { LeaderElector } from "../../src/coordinator/leader-election.js";
import { CoordinatorMetrics, serveMetrics } from "../../src/coordinator/metrics.js";
import { PAIR_RECORD_API_VERSION, type PairRecord } from "../../src/pairs/pair-record.js";
import { writePairRecord } from "../../src/pairs/pair-store.js";
import { loadClusterConnection, type ClusterConnection } from "../../src/kube/kubeconfig.js";
import { rawClient, type RawClient } from "../../src/kube/raw-client.js";
import { silentLogger } from "../../src/log/logger.js";
import { FilesystemStore } from "../../src/store/filesystem-store.js";
import { peer } from "../support/peers.js";
import { stallingProxy } from "../support/tcp-proxies.js";
import { testCluster, type TestCluster } from "../support/test-clusters.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The same cluster, reached through another address (a proxy in front of the apiserver). */
function through(connection: ClusterConnection, host: string, port: number): ClusterConnection {
  return { ...connection, server: `https://${host.includes(":") ? `[${host}]` : host}:${port}` };
}

describe("coordinator and leader election under faults (real apiserver)", function () {
  this.timeout(240_000);
  let cluster: TestCluster;
  let connection: ClusterConnection;
  let client: RawClient;
  let identity: string;
  const work = mkdtempSync(join(tmpdir(), "twinsnap-i14-faults-"));

  before(async () => {
    cluster = await testCluster("source", { withControllerManager: true });
    writeFileSync(join(work, "velero-crds.yaml"), execFileSync(peer("VELERO_BIN"), ["install", "--crds-only", "--dry-run", "-o", "yaml"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }));
    await cluster.kubectl(["apply", "-f", join(work, "velero-crds.yaml")]);
    await cluster.kubectl(["wait", "--for=condition=Established", "crd/backups.velero.io"]);
    for (const ns of ["i14-election", "i14-velero-a", "i14-velero-b"]) await cluster.kubectl(["create", "namespace", ns]).catch(() => undefined);
    connection = await loadClusterConnection({ env: {}, kubeconfigPath: cluster.kubeconfigPath });
    client = rawClient(connection);
    identity = JSON.parse(await cluster.kubectl(["get", "namespace", "kube-system", "-o", "json"])).metadata.uid;
  });
  after(() => client?.close());

  const createBackup = async (ns: string, name: string, phase?: string) => {
    const file = join(work, `${ns}-${name}.json`);
    writeFileSync(file, JSON.stringify({ apiVersion: "velero.io/v1", kind: "Backup", metadata: { name, namespace: ns }, spec: {}, ...(phase ? { status: { phase } } : {}) }));
    await cluster.kubectl(["create", "-f", file]);
  };
  const recordsIn = (dir: string): PairRecord[] =>
    (existsSync(join(dir, "pairs")) ? readdirSync(join(dir, "pairs")) : [])
      .filter((f) => f.endsWith(".json"))
      .flatMap((f) => {
        try {
          const r = JSON.parse(readFileSync(join(dir, "pairs", f), "utf8"));
          return r && typeof r === "object" && r.backup?.name ? [r as PairRecord] : [];
        } catch {
          return [];
        }
      });
  const pair = (name: string, ns: string, uid: string, clusterIdentity = identity): PairRecord => ({
    apiVersion: PAIR_RECORD_API_VERSION,
    kind: "PairRecord",
    backup: { name, namespace: ns, uid, phase: "Completed", startTimestamp: "2026-11-24T00:00:00Z" },
    state: "Paired",
    clusterIdentity,
    etcd: { available: false, reason: "test" },
    coordinatorVersion: "test",
    updatedAt: "2026-11-24T00:00:00Z",
  });

  it("leader election through a connection that stalls, and with a standby whose clock runs 2 s ahead: never two leaders writing", async () => {
    const proxy = await stallingProxy({ host: "127.0.0.1", port: Number(new URL(connection.server).port) });
    const stallable = rawClient(through(connection, proxy.host, proxy.port));
    const writes: { who: string; at: number }[] = [];
    const replica = (who: string, c: RawClient, skewMs: number) => {
      const elector = new LeaderElector({ client: c, namespace: "i14-election", name: "twinsnap-coordinator", identity: who, log: silentLogger(), leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300, now: () => new Date(Date.now() + skewMs) });
      const abort = new AbortController();
      // The work writes to a store, which does not go through the apiserver connection: only the lease check fences it.
      const done = elector.run(abort.signal, async (leading) => {
        while (!leading.aborted) {
          if (elector.holdsLease()) writes.push({ who, at: performance.now() });
          await sleep(25);
        }
      });
      return { elector, stop: async () => (abort.abort(), done) };
    };
    const a = replica("replica-a", stallable, 0);
    await until("a leads", () => a.elector.isLeader, 30_000);
    const b = replica("replica-b", client, 2000);
    await sleep(6000); // two lease durations of b's attempts, with b's clock 2 s ahead
    assert.equal(b.elector.isLeader, false, "a standby whose clock runs ahead does not take a lease that is renewed");
    assert.deepEqual([...new Set(writes.map((w) => w.who))], ["replica-a"]);

    proxy.stall();
    const stalledAt = performance.now();
    await until("b takes over", () => b.elector.isLeader, 30_000);
    await sleep(1000);
    const lastA = Math.max(...writes.filter((w) => w.who === "replica-a").map((w) => w.at));
    const firstB = Math.min(...writes.filter((w) => w.who === "replica-b").map((w) => w.at));
    assert.ok(lastA < firstB, `a wrote ${(lastA - stalledAt).toFixed(0)} ms after the stall, b first wrote at ${(firstB - stalledAt).toFixed(0)} ms`);
    assert.ok(lastA - stalledAt <= 2000 + 100, "a stopped within its renew deadline though its requests hang");
    assert.equal(a.elector.isLeader, false);
    const lease = JSON.parse(await cluster.kubectl(["get", "lease", "twinsnap-coordinator", "-n", "i14-election", "-o", "json"]));
    assert.equal(lease.spec.holderIdentity, "replica-b");

    proxy.resume();
    await Promise.all([a.stop(), b.stop()]);
    stallable.close();
    await proxy.close();
  });

  it("records that are not records ({} null [] {\"backup\":{}}) beside good ones, and a failed identity lookup: pairing goes on", async () => {
    const dir = mkdtempSync(join(work, "store-"));
    const store = new FilesystemStore(dir);
    for (const [uid, text] of [["damaged-1", "{}"], ["damaged-2", "null"], ["damaged-3", "[]"], ["damaged-4", '{"backup":{}}']]) await store.put(`pairs/${uid}.json`, Readable.from([text!]));
    await writePairRecord(store, pair("kept", "i14-velero-a", "good-1"));
    // The first two kube-system lookups fail, as a flaky apiserver or a slow RBAC cache would make them: the
    // retention pass at start takes at most one, so the new backup's pairing meets at least one failure and
    // must try again on its own (no further event comes for a Backup that does not change).
    let identityFailures = 0;
    const flaky: RawClient = {
      ...client,
      get: async <T>(path: string, o?: Parameters<RawClient["get"]>[1]) => {
        if (path === "/api/v1/namespaces/kube-system" && identityFailures < 2) {
          identityFailures++;
          throw new Error("connection reset (injected)");
        }
        return client.get<T>(path, o);
      },
      send: client.send.bind(client),
      watch: client.watch.bind(client),
      close: () => undefined,
    };
    const abort = new AbortController();
    const coordinator = new Coordinator({ client: flaky, store, etcd: { unavailable: "test" }, veleroNamespace: "i14-velero-a", log: silentLogger(), version: "test", retentionGraceMs: 3_600_000 });
    const running = coordinator.start(abort.signal);
    try {
      await createBackup("i14-velero-a", "after-damage");
      await until("the new backup is paired", () => recordsIn(dir).some((r) => r.backup.name === "after-damage"), 30_000);
      assert.equal(identityFailures, 2, "the failed lookups happened, and were tried again");
      const annotated = JSON.parse(await cluster.kubectl(["get", "backups.velero.io", "after-damage", "-n", "i14-velero-a", "-o", "json"]));
      assert.ok(annotated.metadata.annotations["twinsnap.dev/pair-state"], "mirrored on the Backup");
      assert.equal(recordsIn(dir).find((r) => r.backup.name === "after-damage")!.clusterIdentity, identity);
      // The damaged records are left as they were, for a person to look at.
      assert.equal(readFileSync(join(dir, "pairs", "damaged-2.json"), "utf8"), "null");
    } finally {
      abort.abort();
      await running;
    }
  });

  it("a half-open Backup watch: /healthz fails while the loop is stuck, and pairing resumes on its own once the path works", async () => {
    const dir = mkdtempSync(join(work, "store-"));
    const proxy = await stallingProxy({ host: "127.0.0.1", port: Number(new URL(connection.server).port) });
    const stallable = rawClient(through(connection, proxy.host, proxy.port), { timeoutMs: 1500 });
    const metrics = new CoordinatorMetrics(3000);
    const http = await serveMetrics(metrics, { host: "127.0.0.1", port: 0 });
    const healthz = async () => (await fetch(`http://127.0.0.1:${(http.address() as { port: number }).port}/healthz`)).status;
    const abort = new AbortController();
    const coordinator = new Coordinator({ client: stallable, store: new FilesystemStore(dir), etcd: { unavailable: "test" }, veleroNamespace: "i14-velero-b", log: silentLogger(), version: "test", metrics, watchIdleMs: 1000, watchTimeoutSeconds: 60 });
    const running = coordinator.start(abort.signal);
    try {
      await createBackup("i14-velero-b", "before-stall");
      await until("paired before the stall", () => recordsIn(dir).some((r) => r.backup.name === "before-stall"), 30_000);
      assert.equal(await healthz(), 200);
      proxy.stall(); // the watch stays open and says nothing; every new request hangs
      await createBackup("i14-velero-b", "during-stall");
      await until("/healthz fails", async () => (await healthz()) === 503, 20_000);
      assert.ok(!recordsIn(dir).some((r) => r.backup.name === "during-stall"));
      proxy.resume();
      await until("paired after the stall", () => recordsIn(dir).some((r) => r.backup.name === "during-stall"), 60_000);
      await until("/healthz recovers", async () => (await healthz()) === 200, 10_000);
    } finally {
      proxy.resume();
      abort.abort();
      await running;
      stallable.close();
      http.close();
      await proxy.close();
    }
  });

  it("retention: two Velero installs share one store, and a Backup list that comes back empty once, orphan nothing of each other's", async () => {
    const dir = mkdtempSync(join(work, "store-"));
    const store = new FilesystemStore(dir);
    await createBackup("i14-velero-b", "b-nightly", "Completed");
    await writePairRecord(store, pair("b-nightly", "i14-velero-b", "b-uid-1")); // the other install's
    await writePairRecord(store, pair("a-gone", "i14-velero-a", "a-uid-gone")); // ours, its Backup deleted
    await createBackup("i14-velero-a", "a-live", "Completed");
    await writePairRecord(store, pair("a-live", "i14-velero-a", "a-uid-live"));
    // One Backup list (and only one) comes back empty, as a cache being rebuilt may answer.
    let emptied = 0;
    const shaky: RawClient = {
      ...client,
      get: async <T>(path: string, o?: Parameters<RawClient["get"]>[1]) => {
        const answer = await client.get<T>(path, o);
        if (path.endsWith("/namespaces/i14-velero-a/backups") && emptied === 0) {
          emptied++;
          return { ...(answer as object), items: [] } as T;
        }
        return answer;
      },
      send: client.send.bind(client),
      watch: client.watch.bind(client),
      close: () => undefined,
    };
    const abort = new AbortController();
    const coordinator = new Coordinator({ client: shaky, store, etcd: { unavailable: "test" }, veleroNamespace: "i14-velero-a", log: silentLogger(), version: "test", retentionGraceMs: 0, gcIntervalMs: 200 });
    const running = coordinator.start(abort.signal);
    try {
      await until("our deleted backup's pair goes", () => !existsSync(join(dir, "pairs", "a-uid-gone.json")), 30_000);
      await sleep(1000); // several more retention passes
      assert.equal(emptied, 1);
      const left = recordsIn(dir);
      assert.ok(left.some((r) => r.backup.uid === "b-uid-1" && !r.orphanedSince), "the other Velero install's pair is not touched");
      assert.ok(left.some((r) => r.backup.uid === "a-uid-live" && !r.orphanedSince), "a pair whose Backup one list missed is not orphaned");
    } finally {
      abort.abort();
      await running;
    }
  });
});
