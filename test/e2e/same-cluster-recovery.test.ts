// Same-cluster recovery with the real Velero and the coordinator as operators run them: a `velero backup create`
// paired by the coordinator (its own process, `--store bsl:default`), then an incident (objects changed, deleted,
// added), then recovery with twinsnap's CLI — `twinsnap restore plan` decides same-cluster, `twinsnap etcd
// restore` makes a data directory from the paired snapshot, and the source's etcd and kube-apiserver restart on
// it. The cluster is back at the backup's moment, watchers re-list, and Velero, still running, carries on.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import type { PairRecord } from "../../src/pairs/pair-record.js";
import { REPO_ROOT } from "../support/fixtures.js";
import { peer } from "../support/peers.js";
import { BslMonitor } from "./support/bsl-monitor.js";
import { runCommand, type E2eCluster } from "./support/cluster.js";
import { CoordinatorProcess } from "./support/coordinator-process.js";
import { useE2eEnvironment } from "./support/e2e-environment.js";
import { pairRecordsInBucket } from "./support/pair-records.js";
import type { VeleroServer } from "./support/velero-server.js";
import { waitUntil } from "./support/wait.js";

const PREFIX = "recovery";
const BACKUP = "before-the-incident";
const SCOPE = ["--include-namespaces", "shop", "--snapshot-volumes=false"];
const TWINSNAP = join(REPO_ROOT, "bin", "twinsnap.js");

interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string; uid: string; resourceVersion: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
  spec?: unknown;
}

const SHOP = [
  { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } },
  { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings", namespace: "shop" }, data: { mode: "production", replicas: "3" } },
  { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "doomed", namespace: "shop" }, data: { keep: "me" } },
  { apiVersion: "v1", kind: "Secret", metadata: { name: "db-credentials", namespace: "shop" }, stringData: { password: "s3cr3t" } },
  { apiVersion: "v1", kind: "Service", metadata: { name: "web", namespace: "shop" }, spec: { selector: { app: "web" }, ports: [{ port: 80 }] } },
  {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: "shop" },
    spec: { replicas: 2, selector: { matchLabels: { app: "web" } }, template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "web", image: "nginx:1.27" }] } } },
  },
];

/** A watch as an informer holds it, through `kubectl get --raw`: the events it saw, and how it ended. */
function watchConfigMaps(cluster: E2eCluster, resourceVersion: string, timeoutSeconds: number) {
  const child = spawn(peer("KUBECTL_BIN"), ["--kubeconfig", cluster.kubeconfigPath, "get", "--raw", `/api/v1/namespaces/shop/configmaps?watch=1&resourceVersion=${resourceVersion}&timeoutSeconds=${timeoutSeconds}`], { stdio: ["ignore", "pipe", "pipe"] });
  const events: { type: string; object: Obj & { code?: number } }[] = [];
  let buffered = "";
  child.stdout.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line) events.push(JSON.parse(line));
    }
  });
  const ended = new Promise<void>((r) => child.once("close", () => r()));
  return { events, ended, stop: () => child.kill("SIGTERM") };
}

describe("same-cluster recovery from the etcd snapshot paired with a Velero backup", function () {
  this.timeout(600_000);
  const env = useE2eEnvironment("recovery");
  let cluster: E2eCluster;
  let velero: VeleroServer;
  let coordinator: CoordinatorProcess;
  let bsl: BslMonitor;
  let pair: PairRecord;
  /** The store the plan's etcd step names (an s3:// URL: it works with the apiserver down). */
  let etcdStore: string;
  let atBackup: Obj[];
  const twinsnap = (args: string[]) =>
    runCommand(process.execPath, [TWINSNAP, ...args], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: env().dir, AWS_SHARED_CREDENTIALS_FILE: env().store.credentialsFile },
      label: `twinsnap ${args.join(" ")}`,
    });
  const shopObjects = async () =>
    ((await cluster.getJson<{ items: Obj[] }>(["configmaps,secrets,services,deployments.apps", "-n", "shop"])).items).filter((o) => o.metadata.name !== "kube-root-ca.crt");
  const gist = (objects: Obj[]) =>
    objects.map((o) => JSON.stringify({ kind: o.kind, name: o.metadata.name, uid: o.metadata.uid, data: o.data, spec: o.spec })).sort();

  before(async function () {
    this.timeout(600_000);
    cluster = await env().startCluster("source", { withControllerManager: false });
    await cluster.apply(SHOP);
    // Enough items that the backup runs for a few seconds: the coordinator's snapshot lands while it is InProgress.
    const bulk = Array.from({ length: 400 }, (_, i) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `item-${i}`, namespace: "shop" }, data: { index: String(i), payload: "p".repeat(256) } }));
    await cluster.kubectl(["create", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "List", items: bulk }) });
    velero = await env().startVelero(cluster, { twinsnap: true, prefix: PREFIX, serverArgs: ["--store-validation-frequency", "5s"] });
    bsl = new BslMonitor(cluster);
    bsl.start();
    env().onStop(() => bsl.stop());
    coordinator = await CoordinatorProcess.start({ cluster, store: env().store, dir: join(env().dir, "coordinator") });
    env().onStop(() => coordinator.stop());
  });

  it("`velero backup create --wait` is paired by the coordinator with an etcd snapshot", async () => {
    atBackup = await shopObjects();
    const status = await velero.cli.backupCreate(BACKUP, SCOPE);
    assert.equal(status.phase, "Completed");
    pair = await waitUntil(`backup ${BACKUP} Paired (coordinator log: ${coordinator.logPath})`, async () => {
      const r = (await pairRecordsInBucket(env().store, PREFIX)).find((p) => p.backup.name === BACKUP);
      return r?.state === "Paired" && r;
    });
    assert.ok(pair.snapshot, JSON.stringify(pair));
  });

  it("`twinsnap restore plan --store bsl:default` decides same-cluster: the cluster has the pair's identity", async () => {
    const common = ["--backup", BACKUP, "--store", "bsl:default", "--kubeconfig", cluster.kubeconfigPath];
    const plan = JSON.parse((await twinsnap(["restore", "plan", ...common, "--json"])).stdout) as { mode: string; why: string; steps: { commands: string[] }[] };
    assert.equal(plan.mode, "same-cluster");
    assert.match(plan.why, new RegExp(pair.clusterIdentity));
    // The etcd step runs while the apiserver is down, so it names the location's bucket, not bsl:default.
    const etcdStep = plan.steps.flatMap((s) => s.commands).find((c) => c.startsWith(`twinsnap etcd restore --backup ${BACKUP} --store `));
    assert.ok(etcdStep, JSON.stringify(plan.steps));
    etcdStore = /--store '([^']+)'/.exec(etcdStep)?.[1] ?? "";
    assert.match(etcdStore, new RegExp(`^s3://${env().store.bucket}/${PREFIX}/plugins/twinsnap\\?`), etcdStep);
    const text = (await twinsnap(["restore", "plan", ...common])).stdout;
    assert.match(text, new RegExp(`Backup ${BACKUP} \\(Completed\\), pair Paired, etcd revision ${pair.snapshot!.revision}`));
    assert.match(text, /Path: same cluster/);
  });

  describe("after an incident, etcd restored from the pair and the control plane restarted on it", () => {
    let watcher: ReturnType<typeof watchConfigMaps>;
    let lastSeen: string;
    let restartedAt: number;

    before(async function () {
      this.timeout(600_000);
      const rvAtBackup = atBackup.find((o) => o.metadata.name === "settings")!.metadata.resourceVersion;
      watcher = watchConfigMaps(cluster, rvAtBackup, 600);

      // The incident.
      await cluster.apply([{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings", namespace: "shop" }, data: { mode: "broken", replicas: "0" } }]);
      await cluster.kubectl(["delete", "configmap", "doomed", "-n", "shop"]);
      await cluster.kubectl(["delete", "deployment", "web", "-n", "shop"]);
      await cluster.apply([{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "stray", namespace: "shop" }, data: { made: "after the backup" } }]);
      await waitUntil("the watcher saw the incident", async () => watcher.events.length >= 3 && watcher.events.some((e) => e.object.metadata.name === "stray"));

      // Recovery as the plan says: a data directory from the pair (verified before use; through the plan's s3:// URL,
      // no cluster needed), etcd and the API server on it.
      const dataDir = join(env().dir, "etcd-restored");
      const restored = await twinsnap([
        "etcd", "restore", "--backup", BACKUP, "--store", etcdStore,
        "--name", "test", "--initial-advertise-peer-urls", "http://127.0.0.1:2380", "--data-dir", dataDir, "--etcdutl", peer("ETCDUTL_BIN"),
      ]);
      assert.match(restored.stdout, /restored test into/);
      bsl.pause();
      await cluster.controlPlane.restartOnEtcdData(dataDir);
      restartedAt = Date.now();
      bsl.resume();
      await watcher.ended; // the old apiserver went away under it, as under every informer
      lastSeen = watcher.events.at(-1)!.object.metadata.resourceVersion;
    });

    it("every object is as it was at the backup: changes undone, deleted ones back (same uids), added ones gone", async () => {
      assert.deepEqual(gist(await shopObjects()), gist(atBackup));
      await assert.rejects(cluster.kubectl(["get", "configmap", "stray", "-n", "shop"]), /not found/);
    });

    it("bumps the revision past everything a watcher saw and marks it compacted: a watch resuming gets 410 Gone", async () => {
      const list = JSON.parse(await cluster.kubectl(["get", "--raw", "/api/v1/namespaces/shop/configmaps"]));
      assert.ok(
        Number(list.metadata.resourceVersion) >= Number(pair.snapshot!.revision) + 1_000_000_000,
        `list at ${list.metadata.resourceVersion}, snapshot at ${pair.snapshot!.revision}`,
      );
      assert.ok(Number(lastSeen) > Number(pair.snapshot!.revision), "the watcher had seen revisions after the snapshot");
      const resumed = watchConfigMaps(cluster, lastSeen, 5);
      await resumed.ended;
      assert.equal(resumed.events[0]?.type, "ERROR", JSON.stringify(resumed.events));
      assert.equal(resumed.events[0]?.object.code, 410);
    });

    it("Velero, still running, re-lists: once the Backup the snapshot caught running is re-synced, it is Completed, its location Available, and it restores", async () => {
      assert.ok(velero.running, "the Velero server lived through the control-plane restart");
      // The snapshot was taken while the backup ran, so etcd brought its Backup object back unfinished, while the
      // bucket holds it Completed. Left so, Velero 1.18 keeps every later backup of its namespaces Queued behind it
      // ("namespace conflict"), and a restarted Velero would mark it Failed. The operator deletes such Backup
      // objects (no data goes: only `velero backup delete` deletes data); Velero's sync brings each back from the
      // bucket as it ended.
      const restoredPhase = (await velero.cli.backupStatus(BACKUP)).phase;
      const caughtRunning = (await cluster.getJson<{ items: { metadata: { name: string }; status?: { phase?: string } }[] }>(["backups.velero.io", "-n", "velero"])).items.filter(
        (b) => !["Completed", "PartiallyFailed", "Failed", "FailedValidation"].includes(b.status?.phase ?? ""),
      );
      assert.deepEqual(caughtRunning.map((b) => b.metadata.name), restoredPhase === "Completed" ? [] : [BACKUP]);
      for (const b of caughtRunning) await cluster.kubectl(["delete", "backups.velero.io", b.metadata.name, "-n", "velero"]);
      await waitUntil("velero backup get lists the backup Completed, synced from the bucket", async () => {
        const out = (await velero.cli.run(["backup", "get", BACKUP], { allowFailure: true })).stdout;
        return new RegExp(`^${BACKUP}\\s+Completed\\s`, "m").test(out);
      });
      // The coordinator keeps the pair it made: the re-synced Backup (a new uid) is not paired with today's etcd.
      const annotations = await waitUntil("the re-synced Backup annotated with its pair", async () => {
        const b = await cluster.getJson(["backups.velero.io", BACKUP, "-n", "velero"]);
        const a = b.metadata.annotations ?? {};
        return a["twinsnap.dev/pair-state"] === "Paired" && b.status?.phase === "Completed" && a;
      });
      assert.equal(annotations["twinsnap.dev/pair-record"], `s3://${env().store.bucket}/${PREFIX}/plugins/twinsnap/pairs/${pair.backup.uid}.json`);
      assert.equal(annotations["twinsnap.dev/etcd-revision"], pair.snapshot!.revision);
      assert.deepEqual((await pairRecordsInBucket(env().store, PREFIX)).filter((p) => p.backup.name === BACKUP).map((p) => p.backup.uid), [pair.backup.uid]);
      await waitUntil("the location validated Available after the restart", async () => {
        const seen = await bsl.poll();
        return seen.phase === "Available" && seen.lastValidationTime !== undefined && Date.parse(seen.lastValidationTime) > restartedAt + 1000;
      }, { timeoutMs: 120_000, intervalMs: 1000 });
      // The plan's last step: volume data only, objects that exist are left alone.
      const restore = await velero.cli.restoreCreate(`${BACKUP}-volumes`, BACKUP, ["--existing-resource-policy", "none"]);
      assert.equal(restore.phase, "Completed", await velero.cli.restoreDescribe(`${BACKUP}-volumes`));
      assert.deepEqual(gist(await shopObjects()), gist(atBackup), "the restore changed nothing etcd had brought back");
    });

    it("the next backup is Completed and paired: Velero and the coordinator carry on on the restored cluster", async () => {
      // Without --wait: a Velero held up (a Backup left unfinished) shows as this wait's last seen phase.
      await velero.cli.run(["backup", "create", "after-the-recovery", ...SCOPE]);
      const phase = await waitUntil("the next backup finished", async () => {
        const { phase } = await velero.cli.backupStatus("after-the-recovery");
        if (["New", "Queued", "ReadyToStart", "InProgress", "Finalizing"].includes(phase)) throw new Error(phase);
        return phase;
      }, { timeoutMs: 180_000, intervalMs: 500 });
      assert.equal(phase, "Completed");
      const record = await waitUntil("the next backup Paired", async () => {
        const r = (await pairRecordsInBucket(env().store, PREFIX)).find((p) => p.backup.name === "after-the-recovery");
        return r?.state === "Paired" && r;
      });
      assert.ok(Number(record.snapshot!.revision) >= Number(pair.snapshot!.revision) + 1_000_000_000, "its snapshot is of the restored etcd");
      assert.equal(record.clusterIdentity, pair.clusterIdentity, "the same cluster");
      assert.deepEqual(bsl.notAvailable(), []);
    });
  });
});
