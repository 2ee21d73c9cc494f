// The coordinator when things break, on a real kube-apiserver and real etcd: etcd killed mid-snapshot, a store
// that fails mid-upload, a coordinator stopped mid-stream and another started, a stream that ends short. The
// snapshot source is its own etcd (tens of MB, so a stream takes a while), not the one behind the apiserver:
// killing that one would take the apiserver, and with it the Backups, down too.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { Etcd3 } from "etcd3";
import { Coordinator, type CoordinatorOptions } from "../../src/coordinator/coordinator.js";
import type { PairRecord } from "../../src/pairs/pair-record.js";
import { connectEtcd, type EtcdMaintenance, type SnapshotChunk } from "../../src/etcd/etcd-client.js";
import { loadClusterConnection } from "../../src/kube/kubeconfig.js";
import { rawClient } from "../../src/kube/raw-client.js";
import { createLogger, silentLogger } from "../../src/log/logger.js";
import { FilesystemStore } from "../../src/store/filesystem-store.js";
import type { ObjectStore } from "../../src/store/object-store.js";
import { startStandaloneEtcd, type StandaloneEtcd } from "../support/control-plane.js";
import { FaultyStore } from "../support/faulty-store.js";
import { REPO_ROOT } from "../support/fixtures.js";
import { peer } from "../support/peers.js";
import { testCluster, type TestCluster } from "../support/test-clusters.js";
import { installVelero, pairRecords, snapshotFiles, until, veleroBackups } from "../support/velero-backups.js";

const MiB = 2 ** 20;

function twinsnap(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(join(REPO_ROOT, "bin", "twinsnap.js"), args, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

/** The real etcd's snapshot stream, ended cleanly halfway through the database: what a broken proxy or member might do. */
function endingEarly(real: EtcdMaintenance): EtcdMaintenance {
  return {
    status: () => real.status(),
    close: () => real.close(),
    snapshot: async () => {
      const source = await real.snapshot();
      return Readable.from(
        (async function* () {
          let keep: number | undefined;
          let sent = 0;
          for await (const chunk of source as AsyncIterable<SnapshotChunk>) {
            keep ??= Math.floor((Number(chunk.remaining_bytes) + chunk.blob.length) / 2);
            const blob = chunk.blob.subarray(0, keep - sent);
            sent += blob.length;
            yield { ...chunk, blob };
            if (sent === keep) return; // leaving the loop cancels etcd's stream
          }
        })(),
      );
    },
  };
}

describe("the coordinator under faults (real etcd and kube-apiserver)", function () {
  this.timeout(300_000);
  let cluster: TestCluster;
  let source: StandaloneEtcd;
  let work: string;
  let backups: ReturnType<typeof veleroBackups>;

  const stores: string[] = [];
  const newStore = () => {
    const dir = mkdtempSync(join(tmpdir(), "twinsnap-faults-store-"));
    stores.push(dir);
    return dir;
  };
  const recordIn = (storeDir: string, name: string): PairRecord | undefined => pairRecords(storeDir).find((r) => r.backup.name === name);
  const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");

  /** A coordinator as `twinsnap coordinator` runs it, with the test's store, etcd and retry timing. */
  function startCoordinator(opts: { store: ObjectStore; etcd?: EtcdMaintenance } & Partial<Pick<CoordinatorOptions, "retry" | "sleep" | "concurrency" | "mayWrite">>) {
    const abort = new AbortController();
    const etcd = opts.etcd ?? connectEtcd({ endpoints: [source.endpoint], dialTimeoutMs: 1000 });
    const client = loadClusterConnection({ env: {}, kubeconfigPath: cluster.kubeconfigPath }).then(rawClient);
    const instance = client.then(
      (c) => new Coordinator({ client: c, store: opts.store, etcd, veleroNamespace: "velero", log: process.env.TWINSNAP_TEST_LOG ? createLogger({ level: "debug", format: "text" }) : silentLogger(), version: "test", retry: opts.retry ?? { attempts: 3, firstDelayMs: 1500 }, ...(opts.sleep ? { sleep: opts.sleep } : {}), ...(opts.concurrency ? { concurrency: opts.concurrency } : {}), ...(opts.mayWrite ? { mayWrite: opts.mayWrite } : {}) }),
    );
    const running = instance.then((c) => c.start(abort.signal)).finally(async () => (etcd.close(), (await client).close()));
    return {
      etcd,
      /** Resolves once the coordinator has listed the Backups as they are now and reconciled each. */
      caughtUp: async () => {
        const c = await instance;
        await c.reconcileAll();
        await c.idle();
      },
      stop: async () => (abort.abort(), running),
    };
  }

  /**
   * Retry delays go through the injected sleep: recorded, and waited for only a moment. `retries` are the snapshot
   * retries (first delay 1500 ms, doubling), told apart from the watch's own re-list delays (1 s, 2 s, 4 s...).
   */
  function recordingSleep() {
    const delays: number[] = [];
    return { retries: () => delays.filter((d) => d % 1500 === 0), sleep: async (ms: number) => void (delays.push(ms), await new Promise((r) => setTimeout(r, 5))) };
  }

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "twinsnap-faults-"));
    cluster = await testCluster("coordinator-faults");
    await installVelero(cluster, work);
    backups = veleroBackups(cluster, work);
    // 48 MiB of incompressible values: a snapshot takes long enough to break in the middle.
    source = await startStandaloneEtcd("faults-source");
    const client = new Etcd3({ hosts: source.endpoint });
    for (let i = 0; i < 96; i++) await client.put(`/registry/secrets/shop/s-${i}`).value(randomBytes(512 * 1024));
    client.close();
  });
  // Each test has a store of its own: the Backups of one test must not be paired again into the next one's.
  afterEach(async () => void (await cluster.kubectl(["delete", "backups.velero.io", "--all", "-n", "velero"])));
  after(async () => {
    await source?.stop();
    for (const dir of [work, ...stores]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("etcd killed mid-snapshot: the pair ends Failed naming etcd after its retries, nothing is stored; after etcd restarts a new backup pairs", async () => {
    const storeDir = newStore();
    const store = new FaultyStore(new FilesystemStore(storeDir), { holdAfterBytes: 2 * MiB });
    const { retries, sleep } = recordingSleep();
    const coordinator = startCoordinator({ store, sleep });
    try {
      await backups.create(["etcd-killed"]);
      await backups.setStatus("etcd-killed", { phase: "InProgress", startTimestamp: now() });
      await store.held; // 2 MiB of the snapshot are in the store: the stream is under way
      await source.kill();
      store.release();
      await until("etcd-killed Failed", () => recordIn(storeDir, "etcd-killed")?.state === "Failed");
      const failed = recordIn(storeDir, "etcd-killed")!;
      assert.match(failed.reason!, /^etcd snapshot failed after 3 attempt\(s\): etcd is not reachable/);
      assert.equal(failed.snapshot, undefined);
      assert.deepEqual(retries(), [1500, 3000], "backoff doubles between the attempts");
      assert.deepEqual(snapshotFiles(storeDir), [], "no snapshot, no partial upload");
      assert.equal((await backups.annotations("etcd-killed"))["twinsnap.dev/pair-state"], "Failed");

      await source.restart();
      // The same coordinator, the same etcd client: wait until it has reconnected (grpc backs off meanwhile).
      await until("the coordinator's etcd client reconnects", () => coordinator.etcd.status().then(() => true, () => false));
      await backups.create(["after-etcd-restart"]);
      await backups.setStatus("after-etcd-restart", { phase: "InProgress", startTimestamp: now() });
      await until("after-etcd-restart snapshot", () => recordIn(storeDir, "after-etcd-restart")?.snapshot !== undefined);
      await backups.setStatus("after-etcd-restart", { phase: "Completed", startTimestamp: now() });
      await until("after-etcd-restart Paired", () => recordIn(storeDir, "after-etcd-restart")?.state === "Paired");
    } finally {
      store.release();
      await coordinator.stop();
    }
    const verified = await twinsnap(["pairs", "verify", "after-etcd-restart", "--store", `file://${storeDir}`, "--etcdutl", peer("ETCDUTL_BIN")]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.equal(recordIn(storeDir, "etcd-killed")!.state, "Failed", "the failed pair stays failed");
  });

  it("the store fails mid-upload: retried, never Paired, no partial object; the record ends Failed naming the store", async () => {
    const storeDir = newStore();
    const store = new FaultyStore(new FilesystemStore(storeDir), { failAfterBytes: 4 * MiB });
    const { retries, sleep } = recordingSleep();
    const coordinator = startCoordinator({ store, sleep });
    try {
      await backups.create(["store-full"]);
      await backups.setStatus("store-full", { phase: "InProgress", startTimestamp: now() });
      await until("store-full Failed", () => recordIn(storeDir, "store-full")?.state === "Failed");
      await backups.setStatus("store-full", { phase: "Completed", startTimestamp: now() });
      await coordinator.caughtUp();
    } finally {
      await coordinator.stop();
    }
    const failed = recordIn(storeDir, "store-full")!;
    assert.equal(store.snapshotUploads, 3, "every attempt uploaded, and failed");
    assert.deepEqual(retries(), [1500, 3000]);
    assert.match(failed.reason!, /^etcd snapshot failed after 3 attempt\(s\): storing the snapshot failed: writing snapshots\/.*\.db\.zst to file:\/\/.* failed: ENOSPC/);
    assert.equal(failed.state, "Failed", "a Completed backup does not make a failed pair Paired");
    assert.equal(failed.snapshot, undefined);
    assert.deepEqual(snapshotFiles(storeDir), [], "no snapshot, no partial upload");
  });

  it("the store fails once: the retry stores a snapshot that verifies, and the pair is Paired", async () => {
    const storeDir = newStore();
    const store = new FaultyStore(new FilesystemStore(storeDir), { failAfterBytes: 4 * MiB, failingUploads: 1 });
    const { retries, sleep } = recordingSleep();
    const coordinator = startCoordinator({ store, sleep });
    try {
      await backups.create(["store-hiccup"]);
      await backups.setStatus("store-hiccup", { phase: "InProgress", startTimestamp: now() });
      await until("store-hiccup snapshot", () => recordIn(storeDir, "store-hiccup")?.snapshot !== undefined);
      await backups.setStatus("store-hiccup", { phase: "Completed", startTimestamp: now() });
      await until("store-hiccup Paired", () => recordIn(storeDir, "store-hiccup")?.state === "Paired");
    } finally {
      await coordinator.stop();
    }
    assert.equal(store.snapshotUploads, 2);
    assert.deepEqual(retries(), [1500]);
    const record = recordIn(storeDir, "store-hiccup")!;
    assert.deepEqual(snapshotFiles(storeDir), [record.snapshot!.key.slice("snapshots/".length)]);
    assert.match(record.snapshot!.key, new RegExp(`^snapshots/${record.backup.uid}/[^/]+\\.db\\.zst$`), "under the backup's uid, in a key of this writer's own");
    const verified = await twinsnap(["pairs", "verify", "store-hiccup", "--store", `file://${storeDir}`, "--etcdutl", peer("ETCDUTL_BIN")]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });

  it("a coordinator stopped mid-stream and another started: each backup ends with one Paired record and one snapshot; what finished meanwhile is after-backup", async () => {
    const storeDir = newStore();
    const first = new FaultyStore(new FilesystemStore(storeDir), { holdAfterBytes: 2 * MiB });
    const a = startCoordinator({ store: first, concurrency: 1 });
    await backups.create(["mid-stream"]);
    await backups.setStatus("mid-stream", { phase: "InProgress", startTimestamp: now() });
    await first.held;
    const stopped = a.stop();
    first.release();
    await stopped;
    const left = recordIn(storeDir, "mid-stream")!;
    assert.equal(left.state, "Snapshotting", "left for the next coordinator");
    assert.equal(left.snapshot, undefined);
    assert.deepEqual(snapshotFiles(storeDir), [], "the stopped upload left nothing behind");

    // No coordinator runs: mid-stream completes, another backup runs and completes, a third starts.
    await backups.setStatus("mid-stream", { phase: "Completed", startTimestamp: left.backup.startTimestamp! });
    await backups.create(["while-down"]);
    await backups.setStatus("while-down", { phase: "InProgress", startTimestamp: now() });
    await backups.setStatus("while-down", { phase: "Completed", startTimestamp: now() });
    await backups.create(["still-running"]);
    await backups.setStatus("still-running", { phase: "InProgress", startTimestamp: now() });

    const b = startCoordinator({ store: new FilesystemStore(storeDir) });
    try {
      await until("mid-stream and while-down Paired", () => ["mid-stream", "while-down"].every((n) => recordIn(storeDir, n)?.state === "Paired"));
      await until("still-running snapshot", () => recordIn(storeDir, "still-running")?.snapshot !== undefined);
      await backups.setStatus("still-running", { phase: "Completed", startTimestamp: now() });
      await until("still-running Paired", () => recordIn(storeDir, "still-running")?.state === "Paired");
    } finally {
      await b.stop();
    }
    const names = ["mid-stream", "while-down", "still-running"];
    const records = pairRecords(storeDir);
    assert.deepEqual(records.map((r) => r.backup.name).sort(), [...names].sort(), "one record per backup");
    for (const name of names) assert.equal(records.filter((r) => r.backup.name === name && r.state === "Paired").length, 1, `${name}: exactly one Paired record`);
    assert.equal(recordIn(storeDir, "mid-stream")!.snapshotTiming, "after-backup");
    assert.equal(recordIn(storeDir, "while-down")!.snapshotTiming, "after-backup");
    assert.equal(recordIn(storeDir, "still-running")!.snapshotTiming, "during-backup");
    assert.deepEqual(snapshotFiles(storeDir), records.map((r) => r.snapshot!.key.slice("snapshots/".length)).sort(), "one snapshot per backup, no duplicates, no partial uploads");
    const verified = await twinsnap(["pairs", "verify", ...names, "--store", `file://${storeDir}`, "--etcdutl", peer("ETCDUTL_BIN")]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });

  it("a leader whose upload hung past its lease: the new leader pairs the backup, the old upload finishes late and never becomes the pair's snapshot", async () => {
    const storeDir = newStore();
    const hung = new FaultyStore(new FilesystemStore(storeDir), { holdAfterBytes: 2 * MiB });
    let holdsLease = true;
    // Not stopped: a replica stalled on a connection does not know yet that its lease is gone.
    const old = startCoordinator({ store: hung, concurrency: 1, mayWrite: () => holdsLease });
    await backups.create(["fenced"]);
    await backups.setStatus("fenced", { phase: "InProgress", startTimestamp: now() });
    await hung.held;
    holdsLease = false;
    await backups.setStatus("fenced", { phase: "Completed", startTimestamp: recordIn(storeDir, "fenced")!.backup.startTimestamp! });

    const leader = startCoordinator({ store: new FilesystemStore(storeDir) });
    try {
      await until("fenced Paired by the new leader", () => recordIn(storeDir, "fenced")?.state === "Paired");
      const paired = recordIn(storeDir, "fenced")!;
      hung.release();
      await old.caughtUp(); // the old upload has finished; its record write was fenced
      assert.deepEqual(recordIn(storeDir, "fenced"), paired, "the record is the new leader's, untouched");
      const verified = await twinsnap(["pairs", "verify", "fenced", "--store", `file://${storeDir}`, "--etcdutl", peer("ETCDUTL_BIN")]);
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
      assert.equal(snapshotFiles(storeDir).length, 2, `the late upload landed beside the pair's snapshot: ${snapshotFiles(storeDir).join(", ")}`);

      await leader.caughtUp(); // a retention pass: what no pair names goes
      assert.deepEqual(snapshotFiles(storeDir), [paired.snapshot!.key.slice("snapshots/".length)]);
    } finally {
      await Promise.all([leader.stop(), old.stop()]);
    }
  });

  it("a stream etcd ends early without an error is never paired: the pair ends Failed with the reason, nothing is stored", async () => {
    const storeDir = newStore();
    const etcd = endingEarly(connectEtcd({ endpoints: [source.endpoint], dialTimeoutMs: 1000 }));
    const { sleep } = recordingSleep();
    const coordinator = startCoordinator({ store: new FilesystemStore(storeDir), etcd, sleep, retry: { attempts: 2, firstDelayMs: 1500 } });
    try {
      await backups.create(["short-stream"]);
      await backups.setStatus("short-stream", { phase: "InProgress", startTimestamp: now() });
      await until("short-stream Failed", () => recordIn(storeDir, "short-stream")?.state === "Failed");
      await backups.setStatus("short-stream", { phase: "Completed", startTimestamp: now() });
      await coordinator.caughtUp();
    } finally {
      await coordinator.stop();
    }
    const failed = recordIn(storeDir, "short-stream")!;
    assert.match(failed.reason!, /after 2 attempt\(s\): the snapshot stream from etcd broke: etcd's snapshot stream ended early: \d+ of \d+ bytes/);
    assert.equal(failed.state, "Failed");
    assert.deepEqual(snapshotFiles(storeDir), []);
  });
});
