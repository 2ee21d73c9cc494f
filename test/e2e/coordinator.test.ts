// The coordinator as operators run it — its own process, `--store bsl:default` — beside the real Velero 1.18
// server, driven by the real velero CLI: schedules and plain backups each get exactly one Paired record in
// Velero's bucket (under <prefix>/plugins/twinsnap/, where Velero's location validation leaves it alone), the
// Backup carries the pair's gist as annotations, and `velero backup delete` takes the pair with it after the
// grace period and nothing else.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { PairRecord } from "../../src/pairs/pair-record.js";
import { BslMonitor } from "./support/bsl-monitor.js";
import type { E2eCluster } from "./support/cluster.js";
import { CoordinatorProcess } from "./support/coordinator-process.js";
import { useE2eEnvironment } from "./support/e2e-environment.js";
import { deleteObject, getObject, pairRecordsInBucket, putObject, topLevelDirectories, twinsnapPrefix } from "./support/pair-records.js";
import type { VeleroServer } from "./support/velero-server.js";
import { waitUntil } from "./support/wait.js";

const PREFIX = "coordinated";
const SCHEDULE = "every-minute";
const GRACE_SECONDS = 5;
const SCOPE = ["--include-namespaces", "shop", "--snapshot-volumes=false"];
const VELERO_TOP_LEVEL = new Set(["backups", "restores", "restic", "metadata", "plugins", "kopia"]);
const UNFINISHED = new Set(["", "New", "Queued", "ReadyToStart", "InProgress", "WaitingForPluginOperations", "WaitingForPluginOperationsPartiallyFailed", "Finalizing", "FinalizingPartiallyFailed"]);

interface Backup {
  metadata: { name: string; uid: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  status?: { phase?: string };
}

describe("the coordinator beside the real Velero: schedules, backups, deletion", function () {
  this.timeout(600_000);
  const env = useE2eEnvironment("coordinator");
  let cluster: E2eCluster;
  let velero: VeleroServer;
  let coordinator: CoordinatorProcess;
  let bsl: BslMonitor;

  const backups = async () => (await cluster.getJson<{ items: Backup[] }>(["backups.velero.io", "-n", "velero"])).items;
  const records = () => pairRecordsInBucket(env().store, PREFIX);
  const pairedRecordOf = (backup: Backup) =>
    waitUntil(`a Paired record for backup ${backup.metadata.name} in the bucket (coordinator log: ${coordinator.logPath})`, async () => {
      const record = (await records()).find((r) => r.backup.uid === backup.metadata.uid);
      return record?.state === "Paired" && record;
    });

  before(async function () {
    this.timeout(600_000);
    cluster = await env().startCluster("source", { withControllerManager: false });
    await cluster.kubectl(["create", "namespace", "shop"]);
    await cluster.apply(
      Array.from({ length: 20 }, (_, i) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `settings-${i}`, namespace: "shop" }, data: { index: String(i) } })),
    );
    // Velero validates its location every 5 s instead of every minute: the scenario sees many validations.
    velero = await env().startVelero(cluster, { twinsnap: true, prefix: PREFIX, serverArgs: ["--store-validation-frequency", "5s"] });
    bsl = new BslMonitor(cluster);
    bsl.start();
    coordinator = await CoordinatorProcess.start({ cluster, store: env().store, dir: join(env().dir, "coordinator"), args: ["--retention-grace", `${GRACE_SECONDS}s`] });
    env().onStop(() => coordinator.stop());
    env().onStop(() => bsl.stop());
    // Velero 1.18 parses schedules with robfig/cron's standard parser and looks at them once a minute: with
    // "@every 1m" the first timed backup comes one to two minutes from now, while the other tests run.
    await velero.cli.run(["schedule", "create", SCHEDULE, "--schedule", "@every 1m", ...SCOPE]);
  });

  it("a plain `velero backup create --wait` gets one Paired record, mirrored in twinsnap.dev/pair-* annotations", async () => {
    const status = await velero.cli.backupCreate("manual-first", SCOPE);
    assert.equal(status.phase, "Completed");
    const backup = status.raw as Backup;
    const record = await pairedRecordOf(backup);
    assert.equal(record.backup.name, "manual-first");
    assert.equal(record.backup.schedule, undefined);
    assert.equal(record.backup.storageLocation, "default");
    const snapshot = record.snapshot;
    assert.ok(snapshot, `the record holds its snapshot: ${JSON.stringify(record)}`);
    assert.equal(record.clusterIdentity, (await cluster.getJson(["namespace", "kube-system"])).metadata.uid);

    // The snapshot lies beside the record, and is what the record says.
    const key = `${twinsnapPrefix(PREFIX)}/${snapshot.key}`;
    assert.ok(snapshot.key.startsWith(`snapshots/${backup.metadata.uid}/`), snapshot.key);
    const stored = await getObject(env().store, key);
    assert.equal(stored.length, snapshot.storedBytes);
    assert.equal(createHash("sha256").update(stored).digest("hex"), snapshot.storedSha256);

    const annotations = await waitUntil("the pair mirrored on the Backup", async () => {
      const a = (await cluster.getJson<Backup>(["backups.velero.io", "manual-first", "-n", "velero"])).metadata.annotations ?? {};
      return a["twinsnap.dev/pair-state"] === "Paired" && a;
    });
    assert.equal(annotations["twinsnap.dev/etcd-revision"], snapshot.revision);
    assert.equal(annotations["twinsnap.dev/snapshot-sha256"], snapshot.snapshotSha256);
    assert.equal(annotations["twinsnap.dev/pair-record"], `s3://${env().store.bucket}/${twinsnapPrefix(PREFIX)}/pairs/${backup.metadata.uid}.json`);
    assert.equal(annotations["twinsnap.dev/pair-reason"], undefined);

    const second = await velero.cli.backupCreate("manual-second", SCOPE);
    assert.equal(second.phase, "Completed");
    await pairedRecordOf(second.raw as Backup);
  });

  it("every backup of a schedule — timed and `--from-schedule` — gets exactly one Paired record naming the schedule", async () => {
    const extra = await velero.cli.backupCreate("extra-from-schedule", ["--from-schedule", SCHEDULE]);
    assert.equal(extra.phase, "Completed");
    const timed = await waitUntil(
      `a backup made by schedule ${SCHEDULE} on its own, Completed (Velero checks schedules once a minute)`,
      async () => {
        const made = (await backups()).filter((b) => b.metadata.labels?.["velero.io/schedule-name"] === SCHEDULE && b.metadata.name !== "extra-from-schedule");
        return made.some((b) => b.status?.phase === "Completed") && made;
      },
      { timeoutMs: 240_000, intervalMs: 1000 },
    );
    assert.ok(timed.every((b) => b.metadata.name.startsWith(`${SCHEDULE}-`)), timed.map((b) => b.metadata.name).join(", "));
    await velero.cli.run(["schedule", "pause", SCHEDULE]);
    const all = await waitUntil("every backup finished", async () => {
      const list = await backups();
      return list.every((b) => !UNFINISHED.has(b.status?.phase ?? "")) && list;
    });

    const scheduled = all.filter((b) => b.metadata.labels?.["velero.io/schedule-name"] === SCHEDULE);
    assert.ok(scheduled.length >= 2, `the --from-schedule backup and at least one timed one: ${scheduled.map((b) => b.metadata.name).join(", ")}`);
    let inBucket: PairRecord[] = [];
    await waitUntil("every backup Paired", async () => {
      inBucket = await records();
      return all.every((b) => inBucket.some((r) => r.backup.uid === b.metadata.uid && r.state === "Paired"));
    });
    for (const b of all) {
      const mine = inBucket.filter((r) => r.backup.name === b.metadata.name);
      assert.equal(mine.length, 1, `exactly one record for ${b.metadata.name}: ${JSON.stringify(mine)}`);
      assert.equal(mine[0]!.state, "Paired");
      assert.equal(mine[0]!.backup.phase, "Completed");
      assert.equal(mine[0]!.backup.schedule, b.metadata.labels?.["velero.io/schedule-name"], `${b.metadata.name} names its schedule`);
      assert.ok(mine[0]!.snapshot?.snapshotSha256, `${b.metadata.name} has its snapshot`);
    }
    assert.equal(inBucket.length, all.length, "no record without its backup");
  });

  it("keeps the BackupStorageLocation Available throughout: twinsnap writes only under plugins/twinsnap/", async () => {
    const lastWrite = Math.max(...(await records()).map((r) => Date.parse(r.updatedAt)));
    // Velero validated the location after the last record was written (its timestamps have whole seconds).
    await waitUntil("a validation of the location after the last pair was written", async () => {
      const seen = await bsl.poll();
      return seen.lastValidationTime !== undefined && Date.parse(seen.lastValidationTime) > lastWrite + 1000;
    }, { timeoutMs: 60_000, intervalMs: 1000 });
    await bsl.stop();
    assert.ok(bsl.seen.length >= 30, `polled all along (${bsl.seen.length} observations)`);
    assert.deepEqual(bsl.notAvailable(), []);
    const dirs = await topLevelDirectories(env().store, PREFIX);
    assert.ok(dirs.includes("plugins") && dirs.includes("backups"), dirs.join(", "));
    assert.deepEqual(dirs.filter((d) => !VELERO_TOP_LEVEL.has(d)), []);
    const twinsnapKeys = (await env().store.list(`${PREFIX}/plugins/`)).filter((k) => !k.startsWith(`${twinsnapPrefix(PREFIX)}/`));
    assert.deepEqual(twinsnapKeys, []);

    // The same check catches a stray directory: written, the location turns Unavailable; removed, it recovers.
    const stray = `${PREFIX}/not-velero/note.txt`;
    await putObject(env().store, stray, "stray");
    const unavailable = await waitUntil("the location Unavailable with a stray top-level directory", async () => {
      const seen = await bsl.poll();
      return seen.phase === "Unavailable" && seen;
    }, { timeoutMs: 60_000, intervalMs: 1000 });
    assert.match(unavailable.message ?? "", /invalid top-level directories: \[not-velero\]/);
    await deleteObject(env().store, stray);
    await waitUntil("the location Available again", async () => (await bsl.poll()).phase === "Available", { timeoutMs: 60_000, intervalMs: 1000 });
  });

  it("`velero backup delete --confirm`: the pair goes after the grace period, every other pair stays", async () => {
    const before = await records();
    const doomed = before.find((r) => r.backup.name === "manual-first");
    assert.ok(doomed);
    const others = before.filter((r) => r !== doomed);
    assert.ok(others.length >= 3);
    // Every snapshot a writer took for a backup is under snapshots/<uid>/; the record names the pair's.
    const snapshotsOf = (uid: string) => `${twinsnapPrefix(PREFIX)}/snapshots/${uid}/`;
    const snapshotOf = (r: PairRecord) => `${twinsnapPrefix(PREFIX)}/${r.snapshot!.key}`;

    await velero.cli.run(["backup", "delete", "manual-first", "--confirm"]);
    await waitUntil("Velero deleted backup manual-first", async () => {
      const names = (await backups()).map((b) => b.metadata.name);
      return !names.includes("manual-first");
    });
    assert.deepEqual(await env().store.list(`${PREFIX}/backups/manual-first/`), [], "Velero removed its own files");

    // The coordinator first marks the pair orphaned, then removes it once the grace period has passed.
    let orphanedSince: string | undefined;
    const removedAt = await waitUntil("the pair of manual-first removed from the bucket", async () => {
      const now = await records();
      const still = now.find((r) => r.backup.uid === doomed.backup.uid);
      if (still) {
        orphanedSince ??= still.orphanedSince;
        return false;
      }
      return Date.now();
    }, { timeoutMs: 120_000, intervalMs: 200 });
    assert.ok(orphanedSince, "the record was marked orphaned before it went");
    assert.ok(removedAt - Date.parse(orphanedSince) >= GRACE_SECONDS * 1000, `removed ${removedAt - Date.parse(orphanedSince)} ms after it was orphaned (grace ${GRACE_SECONDS} s)`);
    assert.deepEqual(await env().store.list(snapshotsOf(doomed.backup.uid)), [], "its snapshot is gone too");
    assert.match(coordinator.log(), /removed the pair of a deleted backup.*manual-first/);

    const after = await records();
    assert.deepEqual(
      after.map((r) => `${r.backup.name} ${r.snapshot?.snapshotSha256}`).sort(),
      others.map((r) => `${r.backup.name} ${r.snapshot?.snapshotSha256}`).sort(),
      "every other pair is untouched",
    );
    for (const r of others) assert.deepEqual(await env().store.list(snapshotsOf(r.backup.uid)), [snapshotOf(r)]);
    assert.ok(after.every((r) => r.orphanedSince === undefined), "no other pair is marked for removal");
    assert.ok(coordinator.running);
  });
});
