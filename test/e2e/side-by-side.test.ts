// The same backup and restore with stock Velero and with Velero plus twinsnap, side by side, on a case stock
// Velero gets wrong: a Pod that runs in a RuntimeClass (a gVisor or Kata sandbox, say).
//
// Why stock Velero fails (Velero v1.18.1, pkg/cmd/server/config/config.go and pkg/restore/restore.go): a restore
// creates resources in a fixed order — a priority list (customresourcedefinitions, namespaces, storageclasses,
// ..., serviceaccounts, secrets, configmaps, limitranges, priorityclasses, pods, replicasets.apps, ...,
// services), then every other resource alphabetically. `pods` is on the list, `runtimeclasses.node.k8s.io` is
// not, so every Pod is created before any RuntimeClass. The apiserver's RuntimeClass admission plugin (on by
// default) refuses a Pod whose RuntimeClass does not exist: `pod rejected: RuntimeClass "gvisor" not found`.
// The restore ends PartiallyFailed and the Pod is missing, although both objects are in the backup.
//
// With twinsnap, twinsnap.dev/restore-order records at backup that the Pod needs its RuntimeClass and, at
// restore, hands it to Velero as an additional item, which Velero creates before the Pod.
import assert from "node:assert/strict";
import type { E2eCluster } from "./support/cluster.js";
import { useE2eEnvironment } from "./support/e2e-environment.js";
import { parseLog, positionOf, restoreSequence } from "./support/velero-log.js";
import type { VeleroServer } from "./support/velero-server.js";
import type { VeleroRunStatus } from "./support/velero-cli.js";

const SANDBOXED = [
  { apiVersion: "node.k8s.io/v1", kind: "RuntimeClass", metadata: { name: "gvisor" }, handler: "runsc" },
  { apiVersion: "v1", kind: "Namespace", metadata: { name: "builds" } },
  { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "builder", namespace: "builds" } },
  { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "build-settings", namespace: "builds" }, data: { target: "release" } },
  {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "untrusted-build", namespace: "builds" },
    spec: {
      runtimeClassName: "gvisor",
      serviceAccountName: "builder",
      restartPolicy: "Never",
      containers: [{ name: "build", image: "busybox:1.36", command: ["sh", "-c", "make release"], envFrom: [{ configMapRef: { name: "build-settings" } }] }],
    },
  },
];

const BACKUP = "sandboxed-builds";
// A full-cluster backup minus the Velero installations themselves (with a namespace filter, cluster-scoped
// resources need --include-cluster-resources, or only those an action asks for are backed up).
const BACKUP_FLAGS = ["--exclude-namespaces", "velero,velero-stock", "--include-cluster-resources=true", "--snapshot-volumes=false"];

describe("side by side: stock Velero and Velero with twinsnap restore a Pod that runs in a RuntimeClass", function () {
  this.timeout(600_000);
  const env = useE2eEnvironment("side-by-side");
  const runs: Record<"stock" | "twinsnap", { target: E2eCluster; targetVelero: VeleroServer; restore: VeleroRunStatus; log: string }> = {} as never;

  before(async function () {
    this.timeout(600_000);
    const [source, stockTarget, twinsnapTarget] = await Promise.all([
      env().startCluster("source"),
      env().startCluster("stock-target"),
      env().startCluster("twinsnap-target"),
    ]);
    await source.apply(SANDBOXED);
    // Two Velero installations on the source, each with its own namespace and bucket prefix.
    const [stockSource, twinsnapSource, stockVelero, twinsnapVelero] = await Promise.all([
      env().startVelero(source, { twinsnap: false, namespace: "velero-stock", prefix: "stock" }),
      env().startVelero(source, { twinsnap: true, prefix: "twinsnap" }),
      env().startVelero(stockTarget, { twinsnap: false, namespace: "velero-stock", prefix: "stock" }),
      env().startVelero(twinsnapTarget, { twinsnap: true, prefix: "twinsnap" }),
    ]);
    const flavours = [
      ["stock", stockSource, stockTarget, stockVelero],
      ["twinsnap", twinsnapSource, twinsnapTarget, twinsnapVelero],
    ] as const;
    // Side by side, in parallel: each target's Velero finds its backup at its next sync (at most once a minute).
    await Promise.all(
      flavours.map(async ([name, sourceVelero, target, targetVelero]) => {
        const backup = await sourceVelero.cli.backupCreate(BACKUP, BACKUP_FLAGS);
        assert.equal(backup.phase, "Completed", `${name} backup: ${backup.phase}`);
        const stored = (await env().store.backupItems(name, BACKUP)).map((i) => `${i.object.kind} ${i.namespace}/${i.name}`);
        for (const item of ["RuntimeClass /gvisor", "Pod builds/untrusted-build"]) assert.ok(stored.includes(item), `the ${name} backup holds ${item}`);
        await targetVelero.waitForBackup(BACKUP);
        const restore = await targetVelero.cli.restoreCreate(`${BACKUP}-restore`, BACKUP);
        runs[name] = { target, targetVelero, restore, log: await targetVelero.cli.restoreLogs(`${BACKUP}-restore`) };
      }),
    );
  });

  it("stock Velero: the restore is PartiallyFailed and the Pod is missing, refused for its RuntimeClass", async () => {
    const { restore, target, log } = runs.stock;
    assert.equal(restore.phase, "PartiallyFailed");
    assert.match(log, /pod rejected: RuntimeClass \\?"gvisor\\?" not found/);
    const sequence = restoreSequence(parseLog(log));
    assert.ok(positionOf(sequence, "Pod", "untrusted-build", "builds") < positionOf(sequence, "RuntimeClass", "gvisor"), "Velero tried the Pod before the RuntimeClass");
    const pods = await target.getJson(["pods", "-n", "builds"]);
    assert.deepEqual(pods.items, []);
    await target.getJson(["runtimeclass", "gvisor"]); // restored, too late for the Pod
  });

  it("Velero with twinsnap: the restore is Completed and every object is there, the RuntimeClass first", async () => {
    const { restore, target, log } = runs.twinsnap;
    assert.equal(restore.phase, "Completed", log.split("\n").filter((l) => l.includes("level=error")).join("\n"));
    assert.equal(restore.errors, 0);
    const sequence = restoreSequence(parseLog(log));
    assert.ok(positionOf(sequence, "RuntimeClass", "gvisor") < positionOf(sequence, "Pod", "untrusted-build", "builds"));
    const pod = await target.getJson(["pod", "untrusted-build", "-n", "builds"]);
    assert.equal(pod.spec.runtimeClassName, "gvisor");
    assert.equal(pod.spec.serviceAccountName, "builder");
    await target.getJson(["configmap", "build-settings", "-n", "builds"]);
    await target.getJson(["serviceaccount", "builder", "-n", "builds"]);
  });
});
