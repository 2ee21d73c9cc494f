// The restore-order actions with a plain in-memory cluster view: what the backup records, what the restore
// hands back to Velero, and how readiness is answered.
import assert from "node:assert/strict";
import type { ResourceIdentifier } from "../../src/actions/action.js";
import { RESTORE_AFTER_ANNOTATION, restoreOrderBackupAction, restoreOrderRestoreAction, type ClusterView } from "../../src/actions/restore-order.js";
import { silentLogger } from "../../src/log/logger.js";
import type { Readiness } from "../../src/manifest/dependency-rule.js";
import { fixture } from "../support/fixtures.js";

const RESOURCES: Record<string, string> = {
  "/ServiceAccount": "serviceaccounts",
  "/ConfigMap": "configmaps",
  "/Secret": "secrets",
  "/PersistentVolumeClaim": "persistentvolumeclaims",
  "scheduling.k8s.io/PriorityClass": "priorityclasses",
  "example.com/Widget": "widgets",
  "apiextensions.k8s.io/CustomResourceDefinition": "customresourcedefinitions",
};

function memoryCluster(existing: string[], ready: Set<string> = new Set()): ClusterView & { asked: string[] } {
  const asked: string[] = [];
  const key = (id: ResourceIdentifier) => `${id.resource}/${id.namespace}/${id.name}`;
  return {
    asked,
    resourceFor: async (group, kind) => RESOURCES[`${group}/${kind}`],
    exists: async (id) => existing.includes(key(id)),
    isReady: async (id: ResourceIdentifier, readiness: Readiness) => (asked.push(`${key(id)}:${readiness}`), ready.has(key(id))),
  };
}

const backup = fixture("velero-backup");
// A backup that selects by label: the Deployment's ConfigMaps and Secrets need not carry the label, so Velero
// takes them in only because restore-order names them.
const byLabel = { ...backup, spec: { ...(backup.spec as object), labelSelector: { matchLabels: { app: "web" } } } };
const restore = fixture("velero-restore");

describe("restore-order actions", () => {
  it("at backup, records what a Deployment needs and asks Velero to back it up too", async () => {
    const cluster = memoryCluster(["serviceaccounts/shop/web", "configmaps/shop/web-config", "secrets/shop/db", "persistentvolumeclaims/shop/data"]);
    const out = await restoreOrderBackupAction(cluster, silentLogger()).execute({ item: fixture("deployment"), backup: byLabel });
    const names = out.additionalItems!.map((i) => `${i.resource}/${i.name}`).sort();
    assert.deepEqual(names, ["configmaps/web-config", "persistentvolumeclaims/data", "secrets/db", "serviceaccounts/web"]);
    const record = JSON.parse(out.item.metadata.annotations![RESTORE_AFTER_ANNOTATION]!);
    assert.equal(record.length, 4);
    assert.ok(record.every((r: { readiness: string }) => r.readiness === "exists"));
  });

  it("leaves out dependencies the cluster does not have (Velero would warn about them) and namespaces (Velero creates those)", async () => {
    const cluster = memoryCluster(["configmaps/shop/web-config"]);
    const out = await restoreOrderBackupAction(cluster, silentLogger()).execute({ item: fixture("deployment"), backup: byLabel });
    assert.deepEqual(out.additionalItems!.map((i) => i.name), ["web-config"]);
    const none = await restoreOrderBackupAction(memoryCluster([]), silentLogger()).execute({ item: fixture("deployment"), backup });
    assert.equal(none.additionalItems, undefined);
    assert.equal(none.item.metadata.annotations?.[RESTORE_AFTER_ANNOTATION], undefined);
  });

  it("a backup whose filters take the dependencies in anyway: they are recorded for the restore, not named to Velero again", async () => {
    const cluster = memoryCluster(["serviceaccounts/shop/web", "configmaps/shop/web-config", "secrets/shop/db", "persistentvolumeclaims/shop/data"]);
    const out = await restoreOrderBackupAction(cluster, silentLogger()).execute({ item: fixture("deployment"), backup });
    assert.equal(out.additionalItems, undefined, "every namespace is in the backup: Velero backs these up by itself");
    assert.equal(JSON.parse(out.item.metadata.annotations![RESTORE_AFTER_ANNOTATION]!).length, 4);
  });

  it("a custom resource records its CRD, which Velero must wait to be Established", async () => {
    const cluster = memoryCluster(["customresourcedefinitions//widgets.example.com"]);
    const out = await restoreOrderBackupAction(cluster, silentLogger()).execute({ item: fixture("cr-widget"), backup });
    assert.deepEqual(JSON.parse(out.item.metadata.annotations![RESTORE_AFTER_ANNOTATION]!), [
      { group: "apiextensions.k8s.io", resource: "customresourcedefinitions", namespace: "", name: "widgets.example.com", readiness: "established" },
    ]);
  });

  it("at restore, hands the record back as additional items, waiting only where readiness matters", async () => {
    const cluster = memoryCluster(["customresourcedefinitions//widgets.example.com", "configmaps/shop/web-config"]);
    const backedUpWidget = (await restoreOrderBackupAction(cluster, silentLogger()).execute({ item: fixture("cr-widget"), backup })).item;
    const ria = restoreOrderRestoreAction(cluster, silentLogger(), { readyTimeoutMs: 60_000 });
    const widget = await ria.execute({ item: backedUpWidget, itemFromBackup: backedUpWidget, restore });
    assert.equal(widget.waitForAdditionalItems, true);
    assert.equal(widget.additionalItemsReadyTimeoutMs, 60_000);
    assert.equal(widget.item.metadata.annotations?.[RESTORE_AFTER_ANNOTATION], undefined, "the record does not reach the cluster");
    assert.deepEqual(widget.additionalItems, [{ group: "apiextensions.k8s.io", resource: "customresourcedefinitions", namespace: "", name: "widgets.example.com" }]);

    const backedUpDeployment = (await restoreOrderBackupAction(cluster, silentLogger()).execute({ item: fixture("deployment"), backup })).item;
    const deployment = await ria.execute({ item: backedUpDeployment, itemFromBackup: backedUpDeployment, restore });
    assert.equal(deployment.waitForAdditionalItems, false);
  });

  it("answers AreAdditionalItemsReady from the target cluster, through the restore's namespace mapping", async () => {
    const ready = new Set(["customresourcedefinitions//widgets.example.com"]);
    const cluster = memoryCluster([], ready);
    const ria = restoreOrderRestoreAction(cluster, silentLogger());
    const crd = { group: "apiextensions.k8s.io", resource: "customresourcedefinitions", namespace: "", name: "widgets.example.com" };
    assert.equal(await ria.areAdditionalItemsReady!([crd], restore), true);
    const svc = { group: "", resource: "services", namespace: "shop", name: "hooks" };
    const mapped = { ...restore, spec: { namespaceMapping: { shop: "shop-dr" } } };
    assert.equal(await ria.areAdditionalItemsReady!([crd, svc], mapped), false, "the Service is not in the target yet");
    assert.deepEqual(cluster.asked.slice(-1), ["services/shop-dr/hooks:exists"], "a Service only has to exist: nothing waits for a backend to serve");
  });

  it("a damaged record costs the ordering hint, never the item", async () => {
    const item = fixture("deployment");
    item.metadata.annotations = { ...item.metadata.annotations, [RESTORE_AFTER_ANNOTATION]: "[{not json" };
    const out = await restoreOrderRestoreAction(memoryCluster([]), silentLogger()).execute({ item, itemFromBackup: item, restore });
    assert.equal(out.additionalItems, undefined);
    assert.equal(out.item.metadata.annotations?.[RESTORE_AFTER_ANNOTATION], undefined);
  });
});
