// The plugin loaded by Velero's own client library (pkg/plugin/clientmgmt over hashicorp/go-plugin v1.6.0,
// as pinned by Velero v1.18.1): discovery from a plugins directory, every call Velero makes, a crashed plugin
// restarted, and a graceful stop — the wire contract checked by the other side's real code.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixture, pluginForms } from "../support/fixtures.js";
import { pluginDir, runVeleroClient, type ClientResult } from "../support/velero-plugin-client.js";

const STRIP = "twinsnap.dev/strip-runtime-fields";
const OFFLINE = { HOME: mkdtempSync(join(tmpdir(), "twinsnap-home-")), KUBECONFIG: "", KUBERNETES_SERVICE_HOST: "" };

for (const { label, command } of pluginForms()) {
  describe(`plugin loaded by Velero's client library, ${label}`, function () {
    this.timeout(120_000);
    let results: ClientResult[];
    let plugin: { dir: string; path: string };
    const byOp = (op: string, i = 0) => results.filter((r) => r.op === op)[i]!;

    before(async () => {
      plugin = pluginDir(command);
      const pod = fixture("pod-with-token");
      const deployment = fixture("deployment");
      ({ results } = await runVeleroClient(
        plugin.dir,
        [
          { op: "list" },
          { op: "appliesTo", kind: "RestoreItemActionV2", name: STRIP },
          { op: "execute", kind: "BackupItemActionV2", name: STRIP, item: deployment, backup: fixture("velero-backup") },
          { op: "execute", kind: "RestoreItemActionV2", name: STRIP, item: pod, itemFromBackup: pod, restore: fixture("velero-restore") },
          { op: "execute", kind: "RestoreItemActionV2", name: STRIP, item: fixture("secret-sa-token-generated"), restore: fixture("velero-restore") },
          { op: "ready", kind: "RestoreItemActionV2", name: STRIP, restore: fixture("velero-restore"), additionalItems: [] },
          { op: "progress", kind: "RestoreItemActionV2", name: STRIP, operationID: "nope", restore: fixture("velero-restore") },
          { op: "execute", kind: "BackupItemActionV2", name: "twinsnap.dev/no-such-action", item: deployment },
          { op: "killProcess" },
          { op: "execute", kind: "BackupItemActionV2", name: STRIP, item: deployment, backup: fixture("velero-backup") },
        ],
        OFFLINE,
      ));
    });

    it("discovers twinsnap in the plugins directory and registers its actions under the path Velero ran", () => {
      assert.equal(byOp("discover").ok, true, byOp("discover").error);
      const list = byOp("list").plugins as Record<string, { command: string; kind: string; name: string }[]>;
      const ours = (kind: string) => list[kind]!.filter((p) => p.name.startsWith("twinsnap.dev/"));
      // At backup one action does both steps in one round trip. restore-order is offered without cluster
      // credentials too (it warns then). In this order Velero runs them at restore: strip first, so an item
      // restore-order defers to the end of a restore is already stripped.
      assert.deepEqual(ours("BackupItemActionV2").map((p) => p.name), [STRIP]);
      assert.deepEqual(ours("RestoreItemActionV2").map((p) => p.name), [STRIP, "twinsnap.dev/restore-order"]);
      assert.deepEqual(ours("BackupItemAction"), [], "not listed twice: Velero would run a v1 twin as well");
      for (const p of [...ours("BackupItemActionV2"), ...ours("RestoreItemActionV2")]) assert.equal(p.command, plugin.path);
    });

    it("answers AppliesTo", () => {
      assert.deepEqual(byOp("appliesTo").selector.includedResources, ["*"]);
    });

    it("a BackupItemActionV2 Execute returns the cleaned item to Velero", () => {
      const r = byOp("execute", 0);
      assert.equal(r.ok, true, r.error);
      const item = r.item ?? r.updatedItem;
      assert.equal(item.metadata.resourceVersion, undefined);
      assert.equal(item.status, undefined);
      assert.deepEqual(item.spec, fixture("deployment").spec);
    });

    it("a RestoreItemActionV2 Execute strips the Pod and skips a generated token Secret", () => {
      const pod = byOp("execute", 1);
      assert.equal(pod.ok, true, pod.error);
      assert.equal(pod.updatedItem.spec.nodeName, undefined);
      assert.equal(pod.skipRestore, false);
      const secret = byOp("execute", 2);
      assert.equal(secret.ok, true, secret.error);
      assert.equal(secret.skipRestore, true);
    });

    it("answers AreAdditionalItemsReady and refuses Progress for an operation it never started", () => {
      assert.equal(byOp("ready").ok, true, byOp("ready").error);
      assert.equal(byOp("ready").ready, true);
      assert.equal(byOp("progress").ok, false);
      assert.match(byOp("progress").error!, /no operation "nope"/);
    });

    it("an unknown action name is an error Velero can report, and the plugin keeps serving", () => {
      const r = byOp("execute", 3);
      assert.equal(r.ok, false);
      assert.match(r.error!, /twinsnap\.dev\/no-such-action/);
    });

    it("Velero restarts a killed plugin transparently and the next call succeeds", () => {
      assert.equal(byOp("killProcess").ok, true, byOp("killProcess").error);
      const r = byOp("execute", 4);
      assert.equal(r.ok, true, r.error);
    });

    it("stops gracefully when Velero is done: no forced kill after go-plugin's 2 s wait", () => {
      const cleanup = byOp("cleanup");
      assert.equal(cleanup.ok, true, cleanup.error);
      assert.equal(cleanup.forcedKills, 0);
      assert.equal(byOp("discover").forcedKills, 0, "the ListPlugins process stopped gracefully too");
      assert.deepEqual(cleanup.remainingPids, []);
    });
  });
}
