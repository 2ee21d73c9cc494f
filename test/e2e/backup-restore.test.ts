// The real Velero 1.18 server and CLI with twinsnap in its plugins directory, as users install it: a backup of
// a realistic cluster on the source, and its restore into a fresh cluster whose Velero finds the backup in the
// same bucket (what happens after a cluster is lost). Every step is the command a user types.
import assert from "node:assert/strict";
import type { BackupItem } from "../../src/velero/backup-archive.js";
import type { KubeObject } from "../../src/manifest/object.js";
import { e2eCorpusNamespaces, populateE2eCorpus } from "../support/corpus.js";
import type { E2eCluster } from "./support/cluster.js";
import { corpusObjects, expectedAfterRestore, keyOf, restoreDifferences } from "./support/corpus-objects.js";
import { useE2eEnvironment } from "./support/e2e-environment.js";
import { parseLog, positionOf, restoreSequence, twinsnapLines } from "./support/velero-log.js";
import type { VeleroServer } from "./support/velero-server.js";
import { waitUntil } from "./support/wait.js";

const TEAMS = 8;
const PREFIX = "clusters";
const BACKUP = "before-the-outage";
// Velero 1.18's `backup create` without resource flags uses its new-style filters, which back up cluster-scoped
// resources only when something in a namespace refers to them (PVs, CRDs): a disaster-recovery backup of a
// whole cluster asks for them.
const BACKUP_FLAGS = ["--include-cluster-resources=true", "--snapshot-volumes=false"];
const RESTORE = "after-the-outage";

/** twinsnap's configuration on the source: the platform team's CRs depend on each other. */
const TWINSNAP_CONFIG = {
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: {
    name: "twinsnap-config",
    namespace: "velero",
    labels: { "velero.io/plugin-config": "", "twinsnap.dev/restore-order": "RestoreItemAction" },
  },
  data: {
    "config.yaml": [
      "dependencies:",
      "  - name: database-needs-instance-class",
      "    kinds: [platform.example.com/Database]",
      "    needs:",
      "      - { kind: platform.example.com/InstanceClass, name: spec.instanceClassName, clusterScoped: true }",
      "  - name: widget-needs-gadget",
      "    kinds: [example.com/Widget]",
      "    needs:",
      "      - { kind: example.com/Gadget, name: spec.gadgetRef, clusterScoped: true }",
      "",
    ].join("\n"),
  },
};

describe("Velero backup and restore with twinsnap, through the real server and CLI", function () {
  this.timeout(600_000);
  const env = useE2eEnvironment("backup-restore");
  let source: E2eCluster;
  let target: E2eCluster;
  let sourceVelero: VeleroServer;
  let targetVelero: VeleroServer;
  let atBackup: KubeObject[];
  let stored: BackupItem[];

  before(async function () {
    this.timeout(600_000);
    [source, target] = await Promise.all([env().startCluster("source"), env().startCluster("target")]);
    await populateE2eCorpus(source, { teams: TEAMS });
    // Controllers have done their work (ReplicaSets, Pods, token data, bindings) before the backup, as in a live cluster.
    await waitUntil("every corpus claim Bound on the source", async () => {
      const pvcs = (await source.getJson(["pvc", "-A"])).items as KubeObject[];
      const claimed = pvcs.filter((p) => (p.spec as any).volumeName);
      return claimed.length >= TEAMS + 1 && claimed.every((p) => (p.status as any)?.phase === "Bound");
    });
    await waitUntil("Deployment Pods created on the source", async () => {
      const pods = (await source.getJson(["pods", "-n", "team-00", "-l", "app=api"])).items as unknown[];
      return pods.length === 2;
    });
    [sourceVelero, targetVelero] = await Promise.all([
      env().startVelero(source, { twinsnap: true, prefix: PREFIX }),
      env().startVelero(target, { twinsnap: true, prefix: PREFIX }),
    ]);
    await source.apply([TWINSNAP_CONFIG]);
  });

  it("lists twinsnap's actions in `velero plugin get`", async () => {
    const out = await sourceVelero.cli.pluginGet();
    // At backup one action strips and records restore order: one round trip per item (actions/backup-pipeline.ts).
    assert.doesNotMatch(out, /twinsnap\.dev\/restore-order\s+BackupItemActionV2/);
    for (const line of [
      /twinsnap\.dev\/strip-runtime-fields\s+BackupItemActionV2/,
      /twinsnap\.dev\/restore-order\s+RestoreItemActionV2/,
      /twinsnap\.dev\/strip-runtime-fields\s+RestoreItemActionV2/,
      /velero\.io\/aws\s+ObjectStore/,
    ]) {
      assert.match(out, line);
    }
  });

  it("`velero backup create --wait` completes, with nothing to report from twinsnap", async () => {
    atBackup = await corpusObjects(source, e2eCorpusNamespaces(TEAMS));
    assert.ok(atBackup.length >= 300, `a corpus of a few hundred objects (${atBackup.length})`);
    const status = await sourceVelero.cli.backupCreate(BACKUP, BACKUP_FLAGS);
    const logs = parseLog(await sourceVelero.cli.backupLogs(BACKUP));
    const fromTwinsnap = twinsnapLines(logs);
    assert.equal(status.phase, "Completed", `${status.phase}: ${logs.filter((l) => l.level === "error").map((l) => l.raw).join("\n")}`);
    assert.equal(status.errors, 0);
    assert.deepEqual(fromTwinsnap.filter((l) => l.level === "error" || l.level === "warning").map((l) => l.raw), []);
    assert.ok(fromTwinsnap.some((l) => /loaded twinsnap plugin configuration/.test(l.msg)), "twinsnap's log lines reach the backup log, and it read its ConfigMap");
    const describe = await sourceVelero.cli.backupDescribe(BACKUP);
    assert.match(describe, /Phase:\s+Completed/);
    assert.match(describe, /example\.com\/v1\/Widget:\s*\n(\s+- .*\n)*\s+- shop\/blue/);
    assert.match(describe, /platform\.example\.com\/v1\/Database:\s*\n(\s+- .*\n)*\s+- team-07\/main/);
  });

  describe("the manifests in the bucket", () => {
    const item = (kind: string, namespace: string, name: string) => {
      const found = stored.find((i) => i.object.kind === kind && i.namespace === namespace && i.name === name);
      assert.ok(found, `${kind} ${namespace}/${name} is in the backup`);
      return found.object as Record<string, any>;
    };

    before(async () => {
      stored = await env().store.backupItems(PREFIX, BACKUP);
    });

    it("hold every object of the corpus", () => {
      const inBackup = new Set(stored.map((i) => keyOf(i.object)));
      assert.deepEqual(atBackup.map(keyOf).filter((k) => !inBackup.has(k)), []);
    });

    it("carry no resourceVersion, allocated clusterIP, Job controller-uid or recomputed workload status", () => {
      assert.deepEqual(stored.filter((i) => i.object.metadata.resourceVersion !== undefined).map((i) => keyOf(i.object)), []);
      const services = stored.filter((i) => i.object.kind === "Service").map((i) => i.object as Record<string, any>);
      assert.ok(services.length > 2 * TEAMS);
      for (const svc of services) {
        if (svc.spec.type === "ExternalName") continue;
        if (svc.metadata.name === "cache" || svc.metadata.name === "db") assert.equal(svc.spec.clusterIP, "None", "headless Services keep clusterIP: None");
        else assert.equal(svc.spec.clusterIP, undefined, `${keyOf(svc as KubeObject)} has no clusterIP`);
        assert.equal(svc.spec.clusterIPs === undefined || svc.spec.clusterIP === "None", true);
      }
      const job = item("Job", "team-03", "schema-migration");
      assert.equal(job.spec.selector, undefined);
      assert.equal(job.spec.template.metadata.labels?.["controller-uid"], undefined);
      assert.equal(job.spec.template.metadata.labels?.["batch.kubernetes.io/controller-uid"], undefined);
      const deployment = item("Deployment", "team-03", "api");
      assert.equal(deployment.status, undefined);
      assert.equal(deployment.metadata.annotations?.["deployment.kubernetes.io/revision"], undefined);
      assert.equal(item("StatefulSet", "team-03", "cache").status, undefined);
      assert.equal(item("DaemonSet", "shop", "log-agent").status, undefined);
    });

    it("keep what Velero reads at restore: Pod/Job/PV/PVC status, nodePorts, managedFields, last-applied-configuration", () => {
      assert.equal(item("Pod", "ci", "sandboxed-build").status.phase, "Pending");
      assert.ok(item("Job", "team-03", "schema-migration").status.startTime, "a Job's status stays (Velero skips completed Jobs by it)");
      assert.equal(item("PersistentVolume", "", "team-03-data").status.phase, "Bound");
      const pvc = item("PersistentVolumeClaim", "team-03", "data");
      assert.equal(pvc.status.phase, "Bound");
      assert.equal(pvc.metadata.annotations["pv.kubernetes.io/bind-completed"], "yes");
      assert.equal(item("Service", "team-00", "api-public").spec.ports[0].nodePort, 30080, "a chosen nodePort");
      assert.ok(item("Service", "team-01", "api-public").spec.ports[0].nodePort > 0, "an allocated nodePort (Velero's --preserve-nodeports reads it)");
      const inBackup = new Map(stored.map((i) => [keyOf(i.object), i.object]));
      const lostManagedFields = atBackup.filter((o) => Array.isArray(o.metadata.managedFields) && !Array.isArray(inBackup.get(keyOf(o))?.metadata.managedFields));
      assert.deepEqual(lostManagedFields.map(keyOf), []);
      assert.ok(item("ConfigMap", "team-02", "settings-4").metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]);
      assert.ok(item("Widget", "shop", "blue").metadata.uid, "uid and creationTimestamp tie the item to its cluster");
    });

    it("record each item's dependencies for the restore (twinsnap.dev/restore-after)", () => {
      const after = (o: Record<string, any>) => JSON.parse(o.metadata.annotations["twinsnap.dev/restore-after"]) as { resource: string; namespace: string; name: string }[];
      const names = (o: Record<string, any>) => after(o).map((d) => `${d.resource} ${d.namespace}/${d.name}`).sort();
      assert.deepEqual(names(item("Deployment", "team-03", "api")), [
        "configmaps team-03/settings-0",
        "configmaps team-03/settings-1",
        "persistentvolumeclaims team-03/data",
        "secrets team-03/credentials-0",
        "serviceaccounts team-03/api",
      ]);
      assert.deepEqual(names(item("Database", "shop", "orders")), ["customresourcedefinitions /databases.platform.example.com", "instanceclasses /large"]);
      const pod = names(item("Pod", "ci", "sandboxed-build"));
      for (const dep of ["runtimeclasses /gvisor", "serviceaccounts ci/builder"]) assert.ok(pod.includes(dep), `${dep} in ${pod.join(", ")}`);
      assert.deepEqual(names(item("ValidatingWebhookConfiguration", "", "policy.platform.example.com")), ["services policy/policy-webhook"]);
    });
  });

  describe("`velero restore create --from-backup` on a fresh cluster", () => {
    let sequence: ReturnType<typeof restoreSequence>;

    before(async function () {
      this.timeout(600_000);
      await targetVelero.waitForBackup(BACKUP);
      const status = await targetVelero.cli.restoreCreate(RESTORE, BACKUP);
      const logs = parseLog(await targetVelero.cli.restoreLogs(RESTORE));
      sequence = restoreSequence(logs);
      assert.equal(status.phase, "Completed", `${status.phase}:\n${await targetVelero.cli.restoreDescribe(RESTORE)}`);
      assert.equal(status.errors, 0);
      assert.deepEqual(twinsnapLines(logs).filter((l) => l.level === "error" || l.level === "warning").map((l) => l.raw), []);
      assert.ok(
        twinsnapLines(logs).some((l) => l.msg === "not restoring item" && /ConfigMap team-04\/kube-root-ca\.crt/.test(l.raw)),
        "twinsnap's restore action ran: the target publishes its own kube-root-ca.crt",
      );
    });

    it("restores every object of the corpus with its content intact", async () => {
      const restored = new Map((await corpusObjects(target, e2eCorpusNamespaces(TEAMS))).map((o) => [keyOf(o), o]));
      const problems: string[] = [];
      let compared = 0;
      for (const original of atBackup) {
        const expected = expectedAfterRestore(original);
        if (!expected) continue;
        compared++;
        const actual = restored.get(keyOf(original));
        if (!actual) problems.push(`${keyOf(original)}: missing`);
        else problems.push(...restoreDifferences(expected, actual).map((d) => `${keyOf(original)}: ${d}`));
      }
      assert.deepEqual(problems, []);
      assert.ok(compared >= 300, `${compared} objects compared`);
    });

    it("restores what an item needs before the item, as Velero's restore log shows", () => {
      const before = (first: [string, string, string?], then: [string, string, string?], why: string) => {
        const a = positionOf(sequence, first[0], first[1], first[2]);
        const b = positionOf(sequence, then[0], then[1], then[2]);
        assert.ok(a >= 0 && b >= 0, `${first.join(" ")} and ${then.join(" ")} are in the restore log`);
        assert.ok(a < b, `${first.join(" ")} (#${a}) before ${then.join(" ")} (#${b}): ${why}`);
      };
      before(["CustomResourceDefinition", "widgets.example.com"], ["Widget", "blue", "shop"], "a CRD before its custom resources");
      before(["ServiceAccount", "api", "team-05"], ["Deployment", "api", "team-05"], "the ServiceAccount before the Deployment");
      before(["ConfigMap", "settings-1", "team-05"], ["Deployment", "api", "team-05"], "its ConfigMaps before the Deployment");
      // Velero's own order puts databases.platform.example.com before instanceclasses and pods before
      // runtimeclasses.node.k8s.io; these come first only as twinsnap.dev/restore-order's additional items.
      before(["InstanceClass", "large"], ["Database", "orders", "shop"], "a Database after its InstanceClass (configured dependency)");
      before(["RuntimeClass", "gvisor"], ["Pod", "sandboxed-build", "ci"], "a Pod after its RuntimeClass");
    });
  });
});
