// `twinsnap pairs diff` beside the real Velero 1.18 (stock, default filters) and the coordinator: the pair's etcd
// snapshot and the backup's tarball both read from Velero's bucket (`--store bsl:default`), and what the diff
// reports as left out is checked against the world — the cluster's own list of cluster-scoped objects (kubectl)
// minus the items in the tarball Velero wrote (listed by tar, not by twinsnap).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import type { PairRecord } from "../../src/pairs/pair-record.js";
import { populateCorpus } from "../support/corpus.js";
import { REPO_ROOT } from "../support/fixtures.js";
import type { E2eCluster } from "./support/cluster.js";
import { CoordinatorProcess } from "./support/coordinator-process.js";
import { useE2eEnvironment } from "./support/e2e-environment.js";
import { pairRecordsInBucket } from "./support/pair-records.js";
import type { VeleroServer } from "./support/velero-server.js";
import { waitUntil } from "./support/wait.js";

const run = promisify(execFile);
const PREFIX = "diffs";
/** Resources the diff lists apart by design (never restored by Velero); not part of "left out". */
const BY_DESIGN = new Set(["nodes", "events", "events.events.k8s.io", "csinodes.storage.k8s.io", "volumeattachments.storage.k8s.io"]);

interface Diff {
  counts: Record<string, number>;
  missed: Record<string, { groupResource: string; namespace: string; name: string }[]>;
  neverBackedUp: { groupResource: string }[];
  undecodable: unknown[];
}

describe("pairs diff beside the real Velero: what a backup left out, read from Velero's bucket", function () {
  this.timeout(900_000);
  const env = useE2eEnvironment("pairs-diff");
  let cluster: E2eCluster;
  let velero: VeleroServer;
  let coordinator: CoordinatorProcess;

  before(async function () {
    this.timeout(600_000);
    cluster = await env().startCluster("source", { withControllerManager: false });
    await populateCorpus(cluster);
    velero = await env().startVelero(cluster, { twinsnap: false, prefix: PREFIX });
    coordinator = await CoordinatorProcess.start({ cluster, store: env().store, dir: join(env().dir, "coordinator") });
    env().onStop(() => coordinator.stop());
  });

  /** The Paired record, once the coordinator has compared the backup with its snapshot. */
  const paired = (uid: string) =>
    waitUntil(`a Paired record with its coverage for ${uid}`, async () => {
      const r = (await pairRecordsInBucket(env().store, PREFIX)).find((x: PairRecord) => x.backup.uid === uid);
      return r?.state === "Paired" && r.coverage !== undefined && r;
    });

  async function diff(backup: string): Promise<Diff> {
    const { stdout } = await run(join(REPO_ROOT, "bin", "twinsnap.js"), ["pairs", "diff", backup, "--store", "bsl:default", "--kubeconfig", cluster.kubeconfigPath, "-o", "json"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: env().dir, AWS_SHARED_CREDENTIALS_FILE: env().store.credentialsFile },
      maxBuffer: 64 * 2 ** 20,
    });
    return JSON.parse(stdout) as Diff;
  }

  /** Cluster-scoped objects as the apiserver lists them, "group-resource name" (kubectl's names are Velero's). */
  async function liveClusterScoped(): Promise<Set<string>> {
    const resources = (await cluster.kubectl(["api-resources", "--namespaced=false", "--verbs=list", "-o", "name"])).split("\n").filter(Boolean);
    const out = new Set<string>();
    for (const r of resources) {
      // componentstatuses are computed on request, never stored: no snapshot holds them.
      if (BY_DESIGN.has(r) || r === "namespaces" || r === "componentstatuses" || r.endsWith(".velero.io")) continue;
      const list = await cluster.getJson<{ items: { metadata: { name: string } }[] }>([r]);
      for (const item of list.items) out.add(`${r} ${item.metadata.name}`);
    }
    return out;
  }

  /** Cluster-scoped items of the tarball Velero wrote, listed by tar. */
  async function tarballClusterScoped(name: string): Promise<Set<string>> {
    const file = join(env().dir, `${name}.tar.gz`);
    await velero.cli.run(["backup", "download", name, "-o", file]);
    const { stdout } = await run("tar", ["-tzf", file], { maxBuffer: 64 * 2 ** 20 });
    const out = new Set<string>();
    for (const line of stdout.split("\n")) {
      const m = /^resources\/([^/]+)\/cluster\/(.+)\.json$/.exec(line);
      if (m) out.add(`${m[1]} ${m[2]}`);
    }
    return out;
  }

  /** Two sets as their differences, so that a failure names the objects. */
  const sameSet = (actual: Set<string>, expected: Set<string>, what: string) =>
    assert.deepEqual({ onlyInDiff: [...actual].filter((x) => !expected.has(x)).sort(), notInDiff: [...expected].filter((x) => !actual.has(x)).sort() }, { onlyInDiff: [], notInDiff: [] }, what);

  const missedClusterScoped = (d: Diff, reason?: string) =>
    new Set(
      Object.entries(d.missed)
        .filter(([r]) => reason === undefined || r === reason)
        .flatMap(([, list]) => list)
        .filter((o) => o.namespace === "" && o.groupResource !== "namespaces")
        .map((o) => `${o.groupResource} ${o.name}`),
    );

  it("a backup of one namespace: exactly the cluster-scoped objects Velero left out, as such; nothing of that namespace missing", async () => {
    const status = await velero.cli.backupCreate("shop-only", ["--include-namespaces", "shop", "--snapshot-volumes=false"]);
    assert.equal(status.phase, "Completed");
    const record = await paired((status.raw as { metadata: { uid: string } }).metadata.uid);
    const [d, live, held] = [await diff("shop-only"), await liveClusterScoped(), await tarballClusterScoped("shop-only")];
    // The coordinator found the same when the backup completed, and says so in the record and its metrics.
    assert.ok(record.coverage && "missed" in record.coverage, JSON.stringify(record.coverage));
    assert.equal(record.coverage.missed, d.counts.missed);
    const metrics = await (await fetch(`${coordinator.metricsUrl}/metrics`)).text();
    assert.match(metrics, new RegExp(`^twinsnap_backup_missed_objects\\{schedule=""\\} ${d.counts.missed}$`, "m"));
    const expected = new Set([...live].filter((o) => !held.has(o)));
    assert.ok(expected.size > 5, `Velero left out ${expected.size} cluster-scoped objects`);
    sameSet(missedClusterScoped(d, "cluster-scoped-not-included"), expected, "cluster-scoped-not-included");
    sameSet(missedClusterScoped(d), expected, "and under no other reason");
    const shopMissing = Object.values(d.missed).flat().filter((o) => o.namespace === "shop");
    assert.deepEqual(shopMissing, [], "everything of the backed-up namespace is in the backup");
    assert.ok((d.missed["excluded-namespace"] ?? []).some((o) => o.namespace === "ci"), "other namespaces are excluded-namespace");
    // Velero's own objects (its Backups, BackupStorageLocation...) and events are listed apart, not as missed.
    const apart = [...new Set(d.neverBackedUp.map((o) => o.groupResource))];
    assert.ok(apart.includes("backups.velero.io"), apart.join(", "));
    assert.deepEqual(apart.filter((r) => !BY_DESIGN.has(r) && !r.endsWith(".velero.io")), [], "only events, nodes and Velero's own apart");
    assert.equal(d.counts.undecodable, 0);
  });

  it("a backup with Velero's default filters: what it left out of the cluster-scoped objects is exactly what the diff lists", async () => {
    const status = await velero.cli.backupCreate("everything", ["--snapshot-volumes=false"]);
    assert.equal(status.phase, "Completed");
    await paired((status.raw as { metadata: { uid: string } }).metadata.uid);
    const [d, live, held] = [await diff("everything"), await liveClusterScoped(), await tarballClusterScoped("everything")];
    const expected = new Set([...live].filter((o) => !held.has(o)));
    process.stderr.write(`    default filters: Velero left out ${expected.size} cluster-scoped objects; reasons ${JSON.stringify(Object.fromEntries(Object.entries(d.missed).map(([r, l]) => [r, l.length])))}\n`);
  });
});
