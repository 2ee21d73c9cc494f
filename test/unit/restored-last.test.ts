// Webhooks, admission policies and APIServices last inside Velero: which items restore-order defers to an
// asynchronous operation, what the operation's Progress creates (Velero's restore labels, its existing-resource
// policy), and how a failure or a missing cluster is reported. A plain in-memory apiserver stands in.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import type { VeleroObject } from "../../src/actions/action.js";
import type { ClusterAccessProblem } from "../../src/actions/cluster-access.js";
import { restoreOrderBackupAction, restoreOrderRestoreAction, type ClusterView } from "../../src/actions/restore-order.js";
import { RestoredLast, type ObjectWriter } from "../../src/actions/restored-last.js";
import { createLogger } from "../../src/log/logger.js";
import type { KubeObject } from "../../src/manifest/object.js";
import { fixture } from "../support/fixtures.js";

function capturingLogger() {
  const lines: { "@level": string; "@message": string }[] = [];
  const stream = new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) });
  return { log: createLogger({ level: "debug", stream }), lines };
}
const settle = () => new Promise((r) => setImmediate(r));

const noCluster: ClusterView = { resourceFor: async () => undefined, exists: async () => false, isReady: async () => true };

/** The apiserver's objects by "resource/name"; records every write. */
class MemoryApiserver implements ObjectWriter {
  readonly objects = new Map<string, KubeObject>();
  readonly writes: string[] = [];
  refuse?: string;
  refusePatch?: string;
  async get(obj: KubeObject, resource: string) {
    return structuredClone(this.objects.get(`${resource}/${obj.metadata.name}`));
  }
  async create(obj: KubeObject, resource: string) {
    this.writes.push(`create ${resource}/${obj.metadata.name}`);
    if (this.refuse) throw new Error(this.refuse);
    if (this.objects.has(`${resource}/${obj.metadata.name}`)) return undefined;
    const created = { ...structuredClone(obj), metadata: { ...structuredClone(obj.metadata), uid: "u-1", resourceVersion: "1" } };
    this.objects.set(`${resource}/${obj.metadata.name}`, created);
    return structuredClone(created);
  }
  async mergePatch(obj: KubeObject, resource: string, patch: unknown) {
    this.writes.push(`patch ${resource}/${obj.metadata.name} ${JSON.stringify(patch)}`);
    if (this.refusePatch && JSON.stringify(patch).includes(this.refusePatch)) throw new Error("the patch was refused");
    const current = this.objects.get(`${resource}/${obj.metadata.name}`)!;
    const merged = apply(current, patch) as KubeObject;
    this.objects.set(`${resource}/${obj.metadata.name}`, merged);
    return merged;
  }
}
function apply(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target !== null && typeof target === "object" && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = apply(out[k], v);
  }
  return out;
}

const restore: VeleroObject = fixture("velero-restore");
const withSpec = (spec: object): VeleroObject => ({ ...restore, spec: { ...(restore.spec as object), ...spec } });

const webhook = (name = "guard"): KubeObject => ({
  apiVersion: "admissionregistration.k8s.io/v1",
  kind: "ValidatingWebhookConfiguration",
  metadata: { name, labels: { team: "platform" } },
  webhooks: [{ name: "guard.example.com", failurePolicy: "Fail", clientConfig: { service: { namespace: "guarded", name: "guard" } } }],
});
const obj = (apiVersion: string, kind: string, name: string, namespace?: string): KubeObject => ({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } });

describe("restore-order: webhooks, admission policies and APIServices last inside Velero", () => {
  describe("which items are deferred to the end of the restore", () => {
    const rows: { item: KubeObject; restore?: VeleroObject; access?: ClusterAccessProblem; deferred: string | false; why: string }[] = [
      { item: webhook(), deferred: "restore-last/validatingwebhookconfigurations/guard", why: "a validating webhook" },
      { item: obj("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "defaults"), deferred: "restore-last/mutatingwebhookconfigurations/defaults", why: "a mutating webhook" },
      { item: obj("apiregistration.k8s.io/v1", "APIService", "v1beta1.metrics.k8s.io"), deferred: "restore-last/apiservices/v1beta1.metrics.k8s.io", why: "an aggregated API" },
      { item: obj("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", "deny"), deferred: "restore-last/validatingadmissionpolicybindings/deny", why: "a policy binding" },
      { item: obj("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", "deny"), deferred: "restore-last/validatingadmissionpolicies/deny", why: "a policy" },
      { item: obj("v1", "ConfigMap", "settings", "guarded"), deferred: false, why: "everything else keeps Velero's order" },
      { item: obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "orders.shop.example.com"), deferred: false, why: "CRDs keep Velero's order" },
      { item: obj("example.com/v1", "ValidatingWebhookConfiguration", "lookalike"), deferred: false, why: "a custom resource that only shares the kind's name" },
      { item: obj("v1", "Service", "guard", "guarded"), deferred: false, why: "a webhook's Service is restored in the usual order, before its webhook" },
      {
        item: webhook(),
        restore: withSpec({ resourceModifier: { kind: "ConfigMap", name: "modifiers" } }),
        deferred: false,
        why: "resource modifiers apply only to what Velero creates itself: left to Velero, with a warning",
      },
      {
        item: webhook(),
        access: { cause: "the plugin has no cluster credentials", fix: "set KUBECONFIG" },
        deferred: false,
        why: "without the apiserver nothing could create it later: left to Velero, with a warning",
      },
    ];
    for (const row of rows) {
      it(`${row.item.kind} ${row.item.metadata.name}: ${row.deferred ? "deferred" : "not deferred"} (${row.why})`, async () => {
        const { log } = capturingLogger();
        const ria = restoreOrderRestoreAction(noCluster, log, { restoredLast: new RestoredLast(new MemoryApiserver(), log), access: async () => row.access });
        const out = await ria.execute({ item: row.item, itemFromBackup: row.item, restore: row.restore ?? restore });
        if (row.deferred) {
          assert.equal(out.skipRestore, true, "Velero must not create it in its own order");
          assert.equal(out.operationId, row.deferred);
          assert.equal(out.item.kind, row.item.kind, "Velero needs an item with kind and apiVersion even when skipped");
        } else {
          assert.notEqual(out.skipRestore, true);
          assert.equal(out.operationId, undefined);
        }
      });
    }

    it("a deferred item skips the actions after restore-order: it is prepared (stripped) before it is kept", async () => {
      const { log } = capturingLogger();
      const api = new MemoryApiserver();
      const prepare = async (item: KubeObject) => ({ ...item, metadata: { ...item.metadata, annotations: { prepared: "yes" } } });
      const ria = restoreOrderRestoreAction(noCluster, log, { restoredLast: new RestoredLast(api, log), prepare });
      const { operationId } = await ria.execute({ item: webhook(), itemFromBackup: webhook(), restore });
      await ria.progress!(operationId!, restore);
      assert.equal(api.objects.get("validatingwebhookconfigurations/guard")!.metadata.annotations?.prepared, "yes");
    });
  });

  describe("what Progress does with a deferred item", () => {
    const labels = { team: "platform", "velero.io/backup-name": "nightly-20261120", "velero.io/restore-name": "nightly-20261120-restore" };
    const existing = (extra: Partial<KubeObject> = {}): KubeObject => ({
      ...webhook(),
      metadata: { name: "guard", labels: { team: "platform" }, uid: "old", resourceVersion: "7", creationTimestamp: "2026-01-01T00:00:00Z" },
      ...extra,
    });
    const rows: {
      name: string;
      before?: KubeObject;
      policy?: string;
      refuse?: string;
      refusePatch?: string;
      error?: RegExp;
      writes: RegExp[];
      after?: (o: KubeObject) => void;
      warning?: RegExp;
    }[] = [
      {
        name: "absent: created with Velero's restore labels",
        writes: [/^create validatingwebhookconfigurations\/guard$/],
        after: (o) => assert.deepEqual(o.metadata.labels, labels),
      },
      {
        name: "refused by the apiserver: an error of the restore that names the object and the reason",
        refuse: 'admission webhook "deny.example.com" denied the request',
        writes: [/^create/],
        error: /error restoring validatingwebhookconfigurations\/guard .*: admission webhook "deny.example.com" denied the request/,
      },
      {
        name: "already there, different, no policy: left as it is, with Velero's warning",
        before: existing({ webhooks: [] }),
        writes: [/^create/],
        warning: /could not restore, ValidatingWebhookConfiguration:guard already exists\. Warning: the in-cluster version is different/,
        after: (o) => assert.deepEqual(o.webhooks, []),
      },
      {
        name: "already there, different, policy none: left as it is, with Velero's warning",
        before: existing({ webhooks: [] }),
        policy: "none",
        writes: [/^create/],
        warning: /could not restore, ValidatingWebhookConfiguration "guard" already exists/,
      },
      {
        name: "already there, the same: left as it is, no write",
        before: existing(),
        writes: [/^create/],
      },
      {
        name: "already there, different, policy update: patched to the backed-up version with the restore labels",
        before: existing({ webhooks: [] }),
        policy: "update",
        writes: [/^create/, /^patch validatingwebhookconfigurations\/guard .*"webhooks":\[/],
        after: (o) => {
          assert.deepEqual(o.webhooks, webhook().webhooks);
          assert.deepEqual(o.metadata.labels, labels);
        },
      },
      {
        name: "already there, different, policy update, the patch refused: only the restore labels, with a warning",
        before: existing({ webhooks: [] }),
        policy: "update",
        refusePatch: "webhooks",
        writes: [/^create/, /^patch .*webhooks/, /^patch validatingwebhookconfigurations\/guard \{"metadata":\{"labels":\{"velero.io\/backup-name":"nightly-20261120","velero.io\/restore-name":"nightly-20261120-restore"\}\}\}$/],
        warning: /patch attempt failed/,
        after: (o) => assert.deepEqual(o.webhooks, []),
      },
      {
        name: "already there, the same, policy update: only the restore labels",
        before: existing(),
        policy: "update",
        writes: [/^create/, /^patch validatingwebhookconfigurations\/guard \{"metadata":\{"labels":/],
      },
    ];
    for (const row of rows) {
      it(row.name, async () => {
        const { log, lines } = capturingLogger();
        const api = new MemoryApiserver();
        if (row.before) api.objects.set("validatingwebhookconfigurations/guard", row.before);
        if (row.refuse) api.refuse = row.refuse;
        if (row.refusePatch) api.refusePatch = row.refusePatch;
        const r = row.policy ? withSpec({ existingResourcePolicy: row.policy }) : restore;
        const ria = restoreOrderRestoreAction(noCluster, log, { restoredLast: new RestoredLast(api, log) });
        const { operationId } = await ria.execute({ item: webhook(), itemFromBackup: webhook(), restore: r });
        assert.deepEqual(api.writes, [], "nothing is written while Velero restores the other items");
        const progress = await ria.progress!(operationId!, r);
        assert.equal(progress.completed, true, "done in the first Progress call: the restore does not wait for Velero's next poll");
        if (row.error) assert.match(progress.error ?? "", row.error);
        else assert.equal(progress.error, undefined);
        assert.equal(api.writes.length, row.writes.length, api.writes.join("\n"));
        row.writes.forEach((w, i) => assert.match(api.writes[i]!, w));
        if (row.after) row.after(api.objects.get("validatingwebhookconfigurations/guard")!);
        await settle();
        const warnings = lines.filter((l) => l["@level"] === "warn").map((l) => l["@message"]);
        if (row.warning) assert.ok(warnings.some((w) => row.warning!.test(w)), warnings.join("\n"));
        assert.ok(lines.every((l) => l["@level"] !== "error"), "an error line would count as a second restore error");
      });
    }

    it("asked again (Velero polls until the phase moves on), answers the same without writing again", async () => {
      const { log } = capturingLogger();
      const api = new MemoryApiserver();
      const ria = restoreOrderRestoreAction(noCluster, log, { restoredLast: new RestoredLast(api, log) });
      const { operationId } = await ria.execute({ item: webhook(), itemFromBackup: webhook(), restore });
      const [a, b] = await Promise.all([ria.progress!(operationId!, restore), ria.progress!(operationId!, restore)]);
      const c = await ria.progress!(operationId!, restore);
      assert.deepEqual([a.completed, b.completed, c.completed], [true, true, true]);
      assert.deepEqual(api.writes, ["create validatingwebhookconfigurations/guard"]);
    });

    it("an operation this process does not hold (the plugin restarted): an error naming it and how to restore it", async () => {
      const { log } = capturingLogger();
      const ria = restoreOrderRestoreAction(noCluster, log, { restoredLast: new RestoredLast(new MemoryApiserver(), log) });
      const progress = await ria.progress!("restore-last/apiservices/v1beta1.metrics.example.com", restore);
      assert.equal(progress.completed, true);
      assert.match(progress.error!, /restore-last\/apiservices\/v1beta1\.metrics\.example\.com .* was not created\. Restore it again with: velero restore create .*--include-resources apiservices/);
    });

    it("a cancelled operation is forgotten", async () => {
      const { log } = capturingLogger();
      const api = new MemoryApiserver();
      const ria = restoreOrderRestoreAction(noCluster, log, { restoredLast: new RestoredLast(api, log) });
      const { operationId } = await ria.execute({ item: webhook(), itemFromBackup: webhook(), restore });
      await ria.cancel!(operationId!, restore);
      assert.match((await ria.progress!(operationId!, restore)).error!, /was not created/);
      assert.deepEqual(api.writes, []);
    });

    it("two restores of the same backup keep their own operations apart", async () => {
      const { log } = capturingLogger();
      const api = new MemoryApiserver();
      const ria = restoreOrderRestoreAction(noCluster, log, { restoredLast: new RestoredLast(api, log) });
      const second = { ...restore, metadata: { name: "second", uid: "r-2" } };
      const a = await ria.execute({ item: webhook("one"), itemFromBackup: webhook("one"), restore });
      await ria.execute({ item: webhook("two"), itemFromBackup: webhook("two"), restore: second });
      assert.match((await ria.progress!(a.operationId!, second)).error!, /was not created/, "restore r-2 never deferred webhook one");
      assert.equal((await ria.progress!(a.operationId!, restore)).error, undefined);
    });
  });

  describe("never silently off", () => {
    const problem: ClusterAccessProblem = { cause: "the plugin has no cluster credentials (no KUBECONFIG)", fix: "set KUBECONFIG in the Velero server's environment" };
    const backup = fixture("velero-backup");

    it("at backup: items pass through unchanged, and one warning per backup names the cause and the fix", async () => {
      const { log, lines } = capturingLogger();
      const bia = restoreOrderBackupAction(noCluster, log, undefined, async () => problem);
      const deployment = fixture("deployment");
      for (let i = 0; i < 3; i++) assert.deepEqual(await bia.execute({ item: deployment, backup }), { item: deployment });
      await bia.execute({ item: deployment, backup: { ...backup, metadata: { name: "other", uid: "b-2" } } });
      await settle();
      const warnings = lines.filter((l) => l["@level"] === "warn").map((l) => l["@message"]);
      assert.equal(warnings.length, 2, warnings.join("\n"));
      assert.match(warnings[0]!, /^twinsnap\.dev\/restore-order is OFF for backup nightly-20261120: the plugin has no cluster credentials \(no KUBECONFIG\); .*Fix: set KUBECONFIG/);
      assert.match(warnings[1]!, /OFF for backup other/);
    });

    it("at restore: the same, once per restore, and nothing is deferred", async () => {
      const { log, lines } = capturingLogger();
      const ria = restoreOrderRestoreAction(noCluster, log, { restoredLast: new RestoredLast(new MemoryApiserver(), log), access: async () => problem });
      for (const item of [webhook(), fixture("deployment")]) {
        const out = await ria.execute({ item, itemFromBackup: item, restore });
        assert.equal(out.skipRestore, undefined);
        assert.equal(out.additionalItems, undefined);
      }
      await settle();
      const warnings = lines.filter((l) => l["@level"] === "warn").map((l) => l["@message"]);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /OFF for restore nightly-20261120-restore: .*webhooks, admission policies and APIServices are not deferred/);
    });
  });
});
