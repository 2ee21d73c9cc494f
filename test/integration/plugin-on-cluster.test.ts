// The plugin process with a real cluster behind it, as inside Velero: configuration from the plugin
// ConfigMap, and the restore-order actions (discovery and existence at backup, readiness at restore).
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture as loadFixture, pluginCommand } from "../support/fixtures.js";
import { jsonBytes, PluginHost } from "../support/go-plugin-host.js";
import { populateCorpus } from "../support/corpus.js";
import { testCluster, type TestCluster } from "../support/test-clusters.js";

const STRIP = "twinsnap.dev/strip-runtime-fields";
const ORDER = "twinsnap.dev/restore-order";
const backup = loadFixture("velero-backup");
const restore = loadFixture("velero-restore");
type Reply = { item: Buffer; additionalItems: { group: string; resource: string; namespace: string; name: string }[]; waitForAdditionalItems?: boolean };
const parse = (r: Reply) => JSON.parse(r.item.toString()) as Record<string, any>;

async function pluginFor(cluster: TestCluster): Promise<PluginHost> {
  const home = mkdtempSync(join(tmpdir(), "twinsnap-home-"));
  return PluginHost.start({
    command: pluginCommand(),
    env: { HOME: home, KUBECONFIG: cluster.kubeconfigPath, VELERO_NAMESPACE: "velero", TWINSNAP_PLUGIN_CONFIG_TTL_SECONDS: "0" },
  });
}

function configMap(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), "twinsnap-cm-")), "cm.json");
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "twinsnap-config", namespace: "velero", labels: { "velero.io/plugin-config": "", [STRIP]: "RestoreItemAction" } },
      data: { "config.yaml": text },
    }),
  );
  return file;
}

describe("the plugin against a real cluster", function () {
  this.timeout(300_000);
  let source: TestCluster;
  let host: PluginHost;
  const live = async (args: string[]) => JSON.parse(await source.kubectl(["get", ...args, "-o", "json"])) as Record<string, any>;

  before(async () => {
    source = await testCluster("source", { withControllerManager: true });
    await populateCorpus(source);
    await source.kubectl(["create", "namespace", "velero"]).catch(() => undefined);
    host = await pluginFor(source);
  });
  after(async () => {
    await host?.shutdown();
    await source?.kubectl(["delete", "configmap", "twinsnap-config", "-n", "velero", "--ignore-not-found"]);
  });

  it("offers restore order once it can reach the cluster; at backup one action does both, one round trip per item", async () => {
    const reply = await host.call<{ plugins: { kind: string; name: string }[] }>("PluginLister", "ListPlugins", {});
    assert.deepEqual(reply.plugins.map((p) => `${p.kind} ${p.name}`).sort(), [
      `BackupItemActionV2 ${STRIP}`,
      `RestoreItemActionV2 ${ORDER}`,
      `RestoreItemActionV2 ${STRIP}`,
    ]);
  });

  it("reads its rules from the labelled ConfigMap in Velero's namespace, and follows changes", async () => {
    await source.kubectl(["apply", "-f", configMap("rules:\n  - { name: widget-color, kinds: [example.com/Widget], stages: [backup], remove: [spec.color] }\n")]);
    const widget = await live(["widgets.example.com", "blue", "-n", "shop"]);
    const out = parse(await host.call<Reply>("BackupItemActionV2", "Execute", { plugin: STRIP, item: jsonBytes(widget), backup: jsonBytes(backup) }));
    assert.equal(out.spec.color, undefined);
    assert.equal(out.spec.size, 3);

    await source.kubectl(["apply", "-f", configMap("rules:\n  - { name: Not Valid, kinds: [Pod], remove: [] }\n")]);
    const again = parse(await host.call<Reply>("BackupItemActionV2", "Execute", { plugin: STRIP, item: jsonBytes(widget), backup: jsonBytes(backup) }));
    assert.equal(again.spec.color, "blue", "a broken configuration falls back to the built-in rules");
    assert.equal(again.metadata.resourceVersion, undefined);
    const errors = host.stderrLines.filter((l) => l.includes('"@level":"error"'));
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /ConfigMap velero\/twinsnap-config key config\.yaml/);
  });

  it("at backup, records a Deployment's dependencies that exist and asks Velero to back up those its filters miss", async () => {
    const deployment = await live(["deployment", "web", "-n", "shop"]);
    const all = ["/configmaps shop/web-config", "/persistentvolumeclaims shop/data", "/secrets shop/db", "/serviceaccounts shop/web", "scheduling.k8s.io/priorityclasses /business-critical"];
    const named = (reply: Reply) => reply.additionalItems.map((i) => `${i.group}/${i.resource} ${i.namespace}/${i.name}`).sort();
    const recorded = (reply: Reply) => (JSON.parse(parse(reply).metadata.annotations["twinsnap.dev/restore-after"]) as Reply["additionalItems"]).map((i) => `${i.group}/${i.resource} ${i.namespace}/${i.name}`).sort();
    // Every namespace is in the backup: only the cluster-scoped PriorityClass needs naming.
    const wide = await host.call<Reply>("BackupItemActionV2", "Execute", { plugin: STRIP, item: jsonBytes(deployment), backup: jsonBytes(backup) });
    assert.deepEqual(named(wide), ["scheduling.k8s.io/priorityclasses /business-critical"]);
    assert.deepEqual(recorded(wide), all);
    assert.equal(parse(wide).metadata.resourceVersion, undefined, "the same call stripped it");
    // A backup selecting by label may miss every one of them.
    const byLabel = { ...backup, spec: { ...(backup.spec as object), labelSelector: { matchLabels: { app: "web" } } } };
    const narrow = await host.call<Reply>("BackupItemActionV2", "Execute", { plugin: STRIP, item: jsonBytes(deployment), backup: jsonBytes(byLabel) });
    assert.deepEqual(named(narrow), all);
    assert.deepEqual(recorded(narrow), all);
  });

  it("at backup, a custom resource records its CRD (found through discovery) to be Established first", async () => {
    const widget = await live(["widgets.example.com", "red", "-n", "shop"]);
    const reply = await host.call<Reply>("BackupItemActionV2", "Execute", { plugin: STRIP, item: jsonBytes(widget), backup: jsonBytes(backup) });
    assert.deepEqual(JSON.parse(parse(reply).metadata.annotations["twinsnap.dev/restore-after"]), [
      { group: "apiextensions.k8s.io", resource: "customresourcedefinitions", namespace: "", name: "widgets.example.com", readiness: "established" },
    ]);
  });

  it("at restore, answers AreAdditionalItemsReady from the target cluster: a CRD counts once Established", async () => {
    const target = await testCluster("restore-target");
    const plugin = await pluginFor(target);
    try {
      const crd = { group: "apiextensions.k8s.io", resource: "customresourcedefinitions", namespace: "", name: "widgets.example.com" };
      const ns = { group: "", resource: "namespaces", namespace: "", name: "shop" };
      const ask = (items: object[]) => plugin.call<{ ready: boolean }>("RestoreItemActionV2", "AreAdditionalItemsReady", { plugin: ORDER, restore: jsonBytes(restore), additionalItems: items });
      assert.deepEqual(await ask([crd]), { ready: false }, "not there yet");
      await target.kubectl(["apply", "-f", join(process.cwd(), "test", "fixtures", "corpus", "00-crds.yaml")]);
      await target.kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd/widgets.example.com"]);
      assert.deepEqual(await ask([crd]), { ready: true });
      assert.deepEqual(await ask([crd, ns]), { ready: false }, "the namespace does not exist yet");
      await target.kubectl(["create", "namespace", "shop"]);
      assert.deepEqual(await ask([crd, ns]), { ready: true });
    } finally {
      await plugin.shutdown();
    }
  });
  it("at restore, a webhook is skipped in Velero's order and created by the item operation's first Progress", async () => {
    const target = await testCluster("restore-target");
    const plugin = await pluginFor(target);
    const name = `deferred-${Date.now()}`;
    const hook = {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingWebhookConfiguration",
      metadata: { name, labels: { team: "platform" } },
      webhooks: [
        {
          name: "deny.guard.example.com",
          admissionReviewVersions: ["v1"],
          sideEffects: "None",
          failurePolicy: "Fail",
          namespaceSelector: { matchLabels: { "guard.example.com/enforce": "true" } },
          clientConfig: { service: { namespace: "guard-system", name: "guard", path: "/validate" } },
          rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["configmaps"] }],
        },
      ],
    };
    const get = () => target.kubectl(["get", "validatingwebhookconfiguration", name, "-o", "json", "--ignore-not-found"]);
    try {
      const reply = await plugin.call<Reply & { skipRestore: boolean; operationID: string }>("RestoreItemActionV2", "Execute", {
        plugin: ORDER,
        item: jsonBytes(hook),
        itemFromBackup: jsonBytes(hook),
        restore: jsonBytes(restore),
      });
      assert.equal(reply.skipRestore, true);
      assert.equal(reply.operationID, `restore-last/validatingwebhookconfigurations/${name}`);
      assert.equal((await get()).trim(), "", "not created while Velero restores the other items");
      const progress = (await plugin.call<{ progress: { completed: boolean; err: string } }>("RestoreItemActionV2", "Progress", {
        plugin: ORDER,
        operationID: reply.operationID,
        restore: jsonBytes(restore),
      })).progress;
      assert.deepEqual([progress.completed, progress.err], [true, ""]);
      const created = JSON.parse(await get());
      assert.deepEqual(created.metadata.labels, { team: "platform", "velero.io/backup-name": "nightly-20261120", "velero.io/restore-name": "nightly-20261120-restore" });
      assert.equal(created.webhooks[0].failurePolicy, "Fail");

      // A second restore of the same backup finds it there, unchanged: left as it is, no error.
      const again = { ...restore, metadata: { ...(restore.metadata as object), name: "again", uid: "again-uid" } };
      const second = await plugin.call<{ operationID: string }>("RestoreItemActionV2", "Execute", { plugin: ORDER, item: jsonBytes(hook), itemFromBackup: jsonBytes(hook), restore: jsonBytes(again) });
      const secondProgress = (await plugin.call<{ progress: { completed: boolean; err: string } }>("RestoreItemActionV2", "Progress", { plugin: ORDER, operationID: second.operationID, restore: jsonBytes(again) })).progress;
      assert.deepEqual([secondProgress.completed, secondProgress.err], [true, ""]);

      // One the apiserver refuses (an invalid webhook): the operation's error names it and the reason.
      const invalid = { ...hook, metadata: { name: `${name}-invalid` }, webhooks: [{ ...hook.webhooks[0], sideEffects: "Sometimes" }] };
      const bad = await plugin.call<{ operationID: string }>("RestoreItemActionV2", "Execute", { plugin: ORDER, item: jsonBytes(invalid), itemFromBackup: jsonBytes(invalid), restore: jsonBytes(restore) });
      const badProgress = (await plugin.call<{ progress: { completed: boolean; err: string } }>("RestoreItemActionV2", "Progress", { plugin: ORDER, operationID: bad.operationID, restore: jsonBytes(restore) })).progress;
      assert.equal(badProgress.completed, true);
      assert.match(badProgress.err, new RegExp(`error restoring validatingwebhookconfigurations/${name}-invalid .*sideEffects`));
    } finally {
      await target.kubectl(["delete", "validatingwebhookconfiguration", name, "--ignore-not-found"]);
      await plugin.shutdown();
    }
  });
});
