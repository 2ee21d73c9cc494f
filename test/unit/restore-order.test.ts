// Restore order by example: what comes before what, and why.
import assert from "node:assert/strict";
import { restoreOrder, phaseOf } from "../../src/manifest/restore-order.js";
import { formatKey, keyOf } from "../../src/manifest/object-key.js";
import type { KubeObject } from "../../src/manifest/object.js";
import { fixture } from "../support/fixtures.js";

const obj = (apiVersion: string, kind: string, name: string, namespace?: string, rest: Record<string, unknown> = {}): KubeObject => ({
  apiVersion,
  kind,
  metadata: { name, ...(namespace ? { namespace } : {}) },
  ...rest,
});
const names = (objs: KubeObject[]) => restoreOrder(objs).order.map((o) => formatKey(keyOf(o.object)));
const before = (order: string[], a: string, b: string) => assert.ok(order.indexOf(a) < order.indexOf(b), `${a} before ${b} in\n  ${order.join("\n  ")}`);

describe("restore order", () => {
  it("puts CRDs, cluster-scoped objects, namespaces and namespaced objects in that order, webhooks last", () => {
    const order = names([
      obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "policy", undefined, { webhooks: [] }),
      obj("v1", "ConfigMap", "c", "shop"),
      obj("v1", "Namespace", "shop"),
      obj("scheduling.k8s.io/v1", "PriorityClass", "high"),
      fixture("crd"),
    ]);
    assert.deepEqual(order, [
      "apiextensions.k8s.io/CustomResourceDefinition widgets.example.com",
      "scheduling.k8s.io/PriorityClass high",
      "Namespace shop",
      "ConfigMap shop/c",
      "admissionregistration.k8s.io/ValidatingWebhookConfiguration policy",
    ]);
  });

  it("restores a Deployment after everything its pod template names", () => {
    const order = names([
      fixture("deployment"),
      obj("v1", "Secret", "db", "shop"),
      obj("v1", "ConfigMap", "web-config", "shop"),
      obj("v1", "ServiceAccount", "web", "shop"),
      obj("v1", "PersistentVolumeClaim", "data", "shop", { spec: { storageClassName: "fast" } }),
      obj("storage.k8s.io/v1", "StorageClass", "fast"),
      obj("scheduling.k8s.io/v1", "PriorityClass", "business-critical"),
      obj("v1", "Namespace", "shop"),
    ]);
    for (const dep of ["Secret shop/db", "ConfigMap shop/web-config", "ServiceAccount shop/web", "PersistentVolumeClaim shop/data", "scheduling.k8s.io/PriorityClass business-critical"]) {
      before(order, dep, "apps/Deployment shop/web");
    }
    before(order, "storage.k8s.io/StorageClass fast", "PersistentVolumeClaim shop/data");
  });

  it("a custom resource waits for its CRD to be Established and its Namespace to be Active", () => {
    const result = restoreOrder([fixture("cr-widget"), obj("v1", "Namespace", "shop"), fixture("crd")]);
    const widget = result.order.find((o) => o.object.kind === "Widget")!;
    assert.deepEqual(widget.dependsOn.map((d) => `${d.kind}:${d.readiness}`).sort(), ["CustomResourceDefinition:established", "Namespace:active"]);
  });

  it("binds claims to their volumes, and bindings to their roles and service accounts", () => {
    const order = names([
      obj("rbac.authorization.k8s.io/v1", "RoleBinding", "rb", "ci", { roleRef: { kind: "Role", name: "builder" }, subjects: [{ kind: "ServiceAccount", name: "builder" }] }),
      obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "crb", undefined, { roleRef: { kind: "ClusterRole", name: "viewer" }, subjects: [{ kind: "ServiceAccount", name: "bot", namespace: "ci" }] }),
      obj("rbac.authorization.k8s.io/v1", "ClusterRole", "viewer"),
      obj("rbac.authorization.k8s.io/v1", "Role", "builder", "ci"),
      obj("v1", "ServiceAccount", "builder", "ci"),
      obj("v1", "ServiceAccount", "bot", "ci"),
      fixture("pvc-bound"),
      fixture("pv-bound"),
    ]);
    before(order, "rbac.authorization.k8s.io/Role ci/builder", "rbac.authorization.k8s.io/RoleBinding ci/rb");
    before(order, "ServiceAccount ci/builder", "rbac.authorization.k8s.io/RoleBinding ci/rb");
    before(order, "ServiceAccount ci/bot", "rbac.authorization.k8s.io/ClusterRoleBinding crb");
    before(order, "rbac.authorization.k8s.io/ClusterRole viewer", "rbac.authorization.k8s.io/ClusterRoleBinding crb");
    before(order, "PersistentVolume pvc-0b5c8f3e-2f7a-4d1e-8a6b-3c9d2e1f0a4b", "PersistentVolumeClaim shop/data");
  });

  it("restores an Ingress after its class, Services and TLS Secret, and a webhook after its Service, without waiting for it to serve", () => {
    const result = restoreOrder([
      obj("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "inject", undefined, { webhooks: [{ name: "a.b.c", clientConfig: { service: { namespace: "mesh", name: "injector" } } }] }),
      obj("networking.k8s.io/v1", "Ingress", "shop", "shop", {
        spec: { ingressClassName: "nginx", tls: [{ secretName: "shop-tls" }], rules: [{ http: { paths: [{ backend: { service: { name: "web", port: { number: 80 } } } }] } }] },
      }),
      obj("v1", "Service", "web", "shop"),
      obj("v1", "Secret", "shop-tls", "shop"),
      obj("networking.k8s.io/v1", "IngressClass", "nginx"),
      obj("v1", "Service", "injector", "mesh"),
    ]);
    const order = result.order.map((o) => formatKey(keyOf(o.object)));
    for (const dep of ["Service shop/web", "Secret shop/shop-tls", "networking.k8s.io/IngressClass nginx"]) before(order, dep, "networking.k8s.io/Ingress shop/shop");
    before(order, "Service mesh/injector", "admissionregistration.k8s.io/MutatingWebhookConfiguration inject");
    const hook = result.order.find((o) => o.object.kind === "MutatingWebhookConfiguration")!;
    assert.equal(hook.dependsOn.find((d) => d.kind === "Service")?.readiness, "exists", "its backend may never serve in the target: nothing waits for it");
    assert.equal(phaseOf(hook.object), "admission-and-aggregation");
  });

  it("reports dependencies on objects it does not order, so a caller can check they exist", () => {
    const result = restoreOrder([fixture("deployment")]);
    assert.ok(result.external.some((e) => e.needs === "ConfigMap shop/web-config"));
    assert.ok(result.external.some((e) => e.needs === "Namespace shop"));
  });

  it("reports a cycle, breaks it deterministically, and orders everything exactly once", () => {
    const a = obj("v1", "ServiceAccount", "a", "x", { imagePullSecrets: [{ name: "s" }] });
    const s = obj("v1", "Secret", "s", "x", { type: "kubernetes.io/service-account-token", metadata: { name: "s", namespace: "x", annotations: { "kubernetes.io/service-account.name": "a" } } });
    const result = restoreOrder([s, a, obj("v1", "ConfigMap", "c", "x")]);
    assert.equal(result.order.length, 3);
    assert.equal(result.cycles.length, 1);
    assert.deepEqual([...result.cycles[0]!].sort(), ["Secret x/s", "ServiceAccount x/a"]);
    assert.deepEqual(names([a, s, obj("v1", "ConfigMap", "c", "x")]), names([s, obj("v1", "ConfigMap", "c", "x"), a]), "independent of input order");
  });

  it("is stable: the same objects in any input order give the same order", () => {
    const objs = [fixture("deployment"), fixture("service-clusterip"), fixture("pvc-bound"), fixture("pv-bound"), fixture("crd"), fixture("cr-widget"), fixture("job"), obj("v1", "Namespace", "shop")];
    const expected = names(objs);
    for (let i = 0; i < 5; i++) {
      const shuffled = [...objs].sort(() => (i % 2 === 0 ? 1 : -1) * (Math.random() - 0.5));
      assert.deepEqual(names(shuffled), expected);
    }
  });
});
