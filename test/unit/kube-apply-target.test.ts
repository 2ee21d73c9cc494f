// The apiserver side of `twinsnap apply`, against a plain in-memory apiserver that counts requests: what exists
// is learnt with one LIST per kind and namespace, not a GET per object, and the outcome is the same.
import assert from "node:assert/strict";
import { kubeApplyTarget } from "../../src/kube/kube-apply-target.js";
import { orderedApply } from "../../src/kube/ordered-apply.js";
import type { RawClient } from "../../src/kube/raw-client.js";
import type { KubeObject } from "../../src/manifest/object.js";

const cm = (ns: string, name: string, value = "v"): KubeObject => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: ns }, data: { k: value } });

/** Enough of an apiserver for ConfigMaps: discovery, GET, paginated LIST (pages of 2 here), server-side apply. */
function memoryApiserver(existing: KubeObject[]) {
  const objects = new Map<string, KubeObject>(existing.map((o) => [`${o.metadata.namespace ?? ""}/${o.metadata.name}`, { ...o, metadata: { ...o.metadata, resourceVersion: "1", managedFields: [{ manager: "old" }] } }]));
  const requests: string[] = [];
  let rv = 10;
  const client: RawClient = {
    close: () => undefined,
    async get<T>(path: string): Promise<T | undefined> {
      requests.push(`GET ${path}`);
      if (path === "/apis") return { groups: [] } as T;
      if (path === "/api/v1") return { resources: [{ name: "configmaps", kind: "ConfigMap", namespaced: true, verbs: ["get", "list", "patch"] }, { name: "namespaces", kind: "Namespace", namespaced: false, verbs: ["get", "list", "patch"] }] } as T;
      if (path.startsWith("/api/v1/namespaces?")) return { items: [...objects.values()].filter((o) => o.kind === "Namespace"), metadata: {} } as T;
      const namespace = /^\/api\/v1\/namespaces\/([^/?]+)$/.exec(path);
      if (namespace) return objects.get(`/${namespace[1]}`) as T | undefined;
      const list = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps\?(.*)$/.exec(path);
      if (list) {
        const q = new URLSearchParams(list[2]);
        const all = [...objects.values()].filter((o) => o.metadata.namespace === list[1]).map(({ apiVersion: _a, kind: _k, ...rest }) => rest);
        const from = Number(q.get("continue") ?? 0);
        const page = all.slice(from, from + 2);
        return { items: page, metadata: from + 2 < all.length ? { continue: String(from + 2) } : {} } as T;
      }
      const one = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps\/([^/?]+)$/.exec(path);
      const found = one ? objects.get(`${one[1]}/${one[2]}`) : undefined;
      return found ? (Object.assign({ kind: found.kind, apiVersion: found.apiVersion }, found) as T) : undefined;
    },
    async send<T>(method: string, path: string, body: unknown): Promise<T> {
      requests.push(`${method} ${path.split("?")[0]}`);
      const obj = body as KubeObject;
      const key = `${obj.metadata.namespace ?? ""}/${obj.metadata.name}`;
      const before = objects.get(key);
      const same = before && JSON.stringify(before.data) === JSON.stringify(obj.data);
      const after = same ? before! : { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++rv), managedFields: [{ manager: "twinsnap" }] } };
      objects.set(key, after);
      return { kind: after.kind, apiVersion: after.apiVersion, metadata: after.metadata, data: after.data } as T;
    },
    async *watch() {},
  };
  return { client, requests };
}

describe("kube apply target", () => {
  it("learns what exists with one paginated LIST per kind and namespace, and reports created, configured, unchanged as a GET would", async () => {
    const shop = [cm("shop", "a"), cm("shop", "b"), cm("shop", "c", "new"), cm("shop", "d"), cm("shop", "e"), cm("shop", "f")];
    const lone = cm("other", "x");
    const api = memoryApiserver([cm("shop", "a"), cm("shop", "b"), cm("shop", "c", "old"), cm("shop", "unrelated"), cm("other", "x")]);
    const summary = await orderedApply([...shop, lone], kubeApplyTarget(api.client));
    const byKey = Object.fromEntries(summary.outcomes.map((o) => [o.key, o.action]));
    assert.deepEqual(byKey, {
      "ConfigMap shop/a": "unchanged", "ConfigMap shop/b": "unchanged", "ConfigMap shop/c": "configured",
      "ConfigMap shop/d": "created", "ConfigMap shop/e": "created", "ConfigMap shop/f": "created", "ConfigMap other/x": "unchanged",
    });
    const gets = api.requests.filter((r) => r.startsWith("GET /api/v1/namespaces/"));
    assert.deepEqual(gets.filter((r) => r.includes("/shop/")), [
      "GET /api/v1/namespaces/shop/configmaps?limit=500",
      "GET /api/v1/namespaces/shop/configmaps?limit=500&continue=2",
    ], "no GET per object in shop");
    assert.deepEqual(gets.filter((r) => r.includes("/other/")), ["GET /api/v1/namespaces/other/configmaps/x"], "one object alone is read by itself");
    assert.equal(api.requests.filter((r) => r.startsWith("PATCH")).length, 7);
  });

  it("looks nothing up in a namespace that this apply creates: nothing can exist there yet", async () => {
    const namespace = (name: string): KubeObject => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
    const fresh = [namespace("fresh"), ...["a", "b", "c", "d", "e"].map((n) => cm("fresh", n)), cm("lone", "x")];
    const kept = [namespace("shop"), ...["a", "b", "c", "d"].map((n) => cm("shop", n))];
    const api = memoryApiserver([namespace("shop"), cm("shop", "a")]);
    const summary = await orderedApply([...fresh, namespace("lone"), ...kept], kubeApplyTarget(api.client));
    assert.equal(summary.counts.created, 11);
    assert.equal(summary.counts.unchanged, 2, "shop and shop/a were there");
    const reads = api.requests.filter((r) => r.startsWith("GET /api/v1/namespaces"));
    assert.deepEqual(reads.filter((r) => r.includes("/fresh/") || r.includes("/lone/")), [], "no LIST or GET inside a namespace created by this apply");
    assert.deepEqual(reads.filter((r) => r.includes("/shop/")), ["GET /api/v1/namespaces/shop/configmaps?limit=500"]);
    assert.ok(reads.includes("GET /api/v1/namespaces?limit=500"), "the namespaces themselves are listed once");
  });

  it("one who may not list namespaces still applies: each object is looked up as before", async () => {
    const api = memoryApiserver([cm("shop", "a")]);
    const get = api.client.get.bind(api.client);
    api.client.get = async <T>(path: string) => {
      if (path.startsWith("/api/v1/namespaces?")) throw new Error('namespaces is forbidden: User "dev" cannot list resource "namespaces"');
      return get<T>(path);
    };
    const objects = [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } }, ...["a", "b", "c", "d"].map((n) => cm("shop", n))];
    const summary = await orderedApply(objects, kubeApplyTarget(api.client));
    assert.equal(summary.counts.failed, 0);
    assert.equal(summary.counts.unchanged, 1, "shop/a was there and is seen");
  });
});

describe("kube apply target, a CRD the apiserver has Established but not yet in discovery", () => {
  // Seen in CI: the apiserver marks a new CRD Established a moment before its discovery document lists the kind,
  // and a custom resource applied in that moment failed with "the cluster does not serve Widget".
  it("waits until discovery serves the kind before applying custom resources of it", async () => {
    const crd: KubeObject = {
      apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: "widgets.example.com" },
      spec: { group: "example.com", scope: "Namespaced", names: { plural: "widgets", kind: "Widget" }, versions: [{ name: "v1", served: true, storage: true }] },
    };
    const widget: KubeObject = { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "blue", namespace: "shop" } };
    const objects = new Map<string, KubeObject>();
    let discoveryLag = 3; // discovery reads of example.com that still miss the kind after the CRD is Established
    const client: RawClient = {
      close: () => undefined,
      async get<T>(path: string): Promise<T | undefined> {
        const haveCrd = objects.has("crd");
        if (path === "/apis") return { groups: [{ name: "apiextensions.k8s.io", preferredVersion: { version: "v1" } }, ...(haveCrd ? [{ name: "example.com", preferredVersion: { version: "v1" } }] : [])] } as T;
        if (path === "/apis/apiextensions.k8s.io/v1") return { resources: [{ name: "customresourcedefinitions", kind: "CustomResourceDefinition", namespaced: false, verbs: ["get", "list", "patch"] }] } as T;
        if (path === "/apis/example.com/v1") {
          if (!haveCrd || discoveryLag-- > 0) return { resources: [] } as T;
          return { resources: [{ name: "widgets", kind: "Widget", namespaced: true, verbs: ["get", "list", "patch"] }] } as T;
        }
        if (path === "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com") return objects.get("crd") as T;
        if (path === "/apis/example.com/v1/namespaces/shop/widgets/blue") return objects.get("widget") as T;
        return undefined;
      },
      async send<T>(_method: string, path: string, body: unknown): Promise<T> {
        const obj = body as KubeObject;
        if (path.startsWith("/apis/apiextensions.k8s.io/")) {
          objects.set("crd", { ...obj, status: { conditions: [{ type: "Established", status: "True" }] } });
        } else if (path.startsWith("/apis/example.com/v1/namespaces/shop/widgets/blue")) {
          objects.set("widget", obj);
        } else {
          throw new Error(`404 for ${path}`);
        }
        return obj as T;
      },
      async *watch() {},
    };
    const summary = await orderedApply([widget, crd], kubeApplyTarget(client), { sleep: async () => undefined });
    assert.deepEqual(summary.outcomes.map((o) => `${o.key}: ${o.action}${o.error ? ` (${o.error})` : ""}`), [
      "apiextensions.k8s.io/CustomResourceDefinition widgets.example.com: created",
      "example.com/Widget shop/blue: created",
    ]);
  });
});
