// The apply scheduler against a plain in-memory cluster: dependency order, readiness waits, failures that
// stop only their dependents, dry run. (The real apiserver is exercised by the integration tests.)
import assert from "node:assert/strict";
import type { DependencyRef } from "../../src/manifest/dependency-rule.js";
import { formatKey, keyOf } from "../../src/manifest/object-key.js";
import type { KubeObject } from "../../src/manifest/object.js";
import { orderedApply, type ApplyTarget } from "../../src/kube/ordered-apply.js";
import { fixture } from "../support/fixtures.js";

class MemoryCluster implements ApplyTarget {
  readonly stored = new Map<string, number>();
  readonly applied: string[] = [];
  /** CRDs become Established after this many readiness polls. */
  establishAfterPolls = 2;
  private polls = new Map<string, number>();
  failing = new Set<string>();
  /** Objects whose apply takes longer (a large ConfigMap, a slow admission chain). */
  slow = new Set<string>();
  inFlight = 0;
  maxInFlight = 0;

  async current(obj: KubeObject) {
    const rv = this.stored.get(formatKey(keyOf(obj)));
    return rv === undefined ? undefined : String(rv);
  }
  async apply(obj: KubeObject, dryRun: boolean) {
    const key = formatKey(keyOf(obj));
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    for (let i = this.slow.has(key) ? 20 : 1; i > 0; i--) await new Promise((r) => setImmediate(r));
    this.inFlight--;
    if (this.failing.has(key)) throw new Error(`admission webhook denied ${key}`);
    if (obj.apiVersion === "example.com/v1" && !this.stored.has("apiextensions.k8s.io/CustomResourceDefinition widgets.example.com")) {
      throw new Error('no matches for kind "Widget" in version "example.com/v1"');
    }
    this.applied.push(key);
    if (dryRun) return String(this.stored.get(key) ?? 0);
    const rv = (this.stored.get(key) ?? 0) + 1;
    this.stored.set(key, rv);
    return String(rv);
  }
  /** Readiness checks asked of the cluster, per object: each is a GET against a real apiserver. */
  readonly readinessChecks = new Map<string, number>();
  async isReady(dep: DependencyRef) {
    const key = formatKey(dep);
    this.readinessChecks.set(key, (this.readinessChecks.get(key) ?? 0) + 1);
    const n = (this.polls.get(key) ?? 0) + 1;
    this.polls.set(key, n);
    return this.stored.has(key) && (dep.readiness !== "established" || n > this.establishAfterPolls);
  }
}

const ns = { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } };
const fast = { sleep: async () => undefined };

describe("ordered apply", () => {
  it("applies webhooks, admission policies and APIServices only after every other object is done, also concurrently", async () => {
    const cluster = new MemoryCluster();
    const configMaps = Array.from({ length: 5 }, (_, i) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `cm-${i}`, namespace: "shop" } }));
    for (const cm of configMaps) cluster.slow.add(formatKey(keyOf(cm)));
    const last = [
      { apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingWebhookConfiguration", metadata: { name: "guard" }, webhooks: [] },
      { apiVersion: "admissionregistration.k8s.io/v1", kind: "MutatingWebhookConfiguration", metadata: { name: "defaults" }, webhooks: [] },
      { apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingAdmissionPolicyBinding", metadata: { name: "deny-latest" }, spec: {} },
      { apiVersion: "apiregistration.k8s.io/v1", kind: "APIService", metadata: { name: "v1beta1.metrics.example.com" }, spec: {} },
    ];
    const summary = await orderedApply([...last, ns, ...configMaps], cluster, { ...fast, concurrency: 8 });
    assert.equal(summary.counts.created, 10);
    const firstLast = Math.min(...last.map((o) => cluster.applied.indexOf(formatKey(keyOf(o as KubeObject)))));
    const lastOther = Math.max(...[ns, ...configMaps].map((o) => cluster.applied.indexOf(formatKey(keyOf(o as KubeObject)))));
    assert.ok(lastOther < firstLast, `every other object before the first of them: ${cluster.applied.join(", ")}`);
  });

  it("creates a CRD, waits until it is Established, then its custom resources, in one pass", async () => {
    const cluster = new MemoryCluster();
    const summary = await orderedApply([fixture("cr-widget"), ns, fixture("crd")], cluster, fast);
    assert.deepEqual(summary.counts, { created: 3, configured: 0, unchanged: 0, failed: 0, "not-attempted": 0 });
    assert.deepEqual(cluster.applied, ["apiextensions.k8s.io/CustomResourceDefinition widgets.example.com", "Namespace shop", "example.com/Widget shop/blue"]);
  });

  it("reports configured and unchanged on a second apply", async () => {
    const cluster = new MemoryCluster();
    await orderedApply([ns], cluster, fast);
    const again = await orderedApply([ns, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: "shop" } }], cluster, fast);
    assert.equal(again.counts.configured, 1, "the memory cluster bumps resourceVersion on every apply");
    assert.equal(again.counts.created, 1);
  });

  it("a failure stops only what depends on it, with the reason", async () => {
    const cluster = new MemoryCluster();
    cluster.failing.add("ServiceAccount shop/web");
    const objs: KubeObject[] = [ns, fixture("deployment"), { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "web", namespace: "shop" } }, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "other", namespace: "shop" } }];
    const summary = await orderedApply(objs, cluster, fast);
    const byKey = new Map(summary.outcomes.map((o) => [o.key, o]));
    assert.equal(byKey.get("ServiceAccount shop/web")!.action, "failed");
    assert.match(byKey.get("ServiceAccount shop/web")!.error!, /admission webhook denied/);
    assert.equal(byKey.get("apps/Deployment shop/web")!.action, "not-attempted");
    assert.match(byKey.get("apps/Deployment shop/web")!.error!, /needs ServiceAccount shop\/web, which failed/);
    assert.equal(byKey.get("ConfigMap shop/other")!.action, "created");
  });

  it("gives up on a CRD that never becomes Established, after the timeout", async () => {
    const cluster = new MemoryCluster();
    cluster.establishAfterPolls = Infinity;
    let clock = 0;
    const summary = await orderedApply([fixture("crd"), ns, fixture("cr-widget")], cluster, {
      readinessTimeoutMs: 5000,
      now: () => clock,
      sleep: async (ms) => void (clock += ms),
    });
    const widget = summary.outcomes.find((o) => o.key.includes("Widget"))!;
    assert.equal(widget.action, "not-attempted");
    assert.match(widget.error!, /CustomResourceDefinition widgets\.example\.com is not established after 5 s/);
  });

  it("applies independent objects concurrently, within the limit", async () => {
    const cluster = new MemoryCluster();
    const many = Array.from({ length: 40 }, (_, i) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `c${i}`, namespace: "shop" } }));
    await orderedApply([ns, ...many], cluster, { ...fast, concurrency: 4 });
    assert.equal(cluster.maxInFlight, 4);
    assert.equal(cluster.stored.size, 41);
  });

  it("asks whether a namespace is ready once, not once per object in it (a GET each against the apiserver)", async () => {
    const cluster = new MemoryCluster();
    const many = Array.from({ length: 200 }, (_, i) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `c${i}`, namespace: "shop" } }));
    const summary = await orderedApply([ns, ...many, fixture("crd"), fixture("cr-widget"), { ...fixture("cr-widget"), metadata: { name: "second", namespace: "shop" } }], cluster, fast);
    assert.equal(summary.counts.created, 204);
    assert.equal(cluster.readinessChecks.get("Namespace shop"), 1);
    // A CRD is polled until Established (two polls refused here), then not again for its second custom resource.
    assert.equal(cluster.readinessChecks.get("apiextensions.k8s.io/CustomResourceDefinition widgets.example.com"), 3);
  });

  it("dry run stores nothing and does not ask the server to validate resources of a CRD it does not have", async () => {
    const cluster = new MemoryCluster();
    const summary = await orderedApply([fixture("crd"), ns, fixture("cr-widget")], cluster, { ...fast, dryRun: true });
    assert.equal(cluster.stored.size, 0);
    assert.equal(summary.counts.created, 3);
    const widget = summary.outcomes.find((o) => o.key.includes("Widget"))!;
    assert.match(widget.error!, /not validated/);
    assert.ok(!cluster.applied.some((k) => k.includes("Widget")));
  });
});
