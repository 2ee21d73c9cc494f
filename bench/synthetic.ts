// Synthetic but realistic object sets for benchmarks: namespaces of workloads with the objects they refer to.
import type { KubeObject } from "../src/manifest/object.js";

export function syntheticObjects(count: number, opts: { namespacePrefix?: string; crds?: boolean } = {}): KubeObject[] {
  const prefix = opts.namespacePrefix ?? "ns";
  const out: KubeObject[] = [];
  if (opts.crds !== false) {
    out.push({
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "widgets.bench.example.com" },
      spec: {
        group: "bench.example.com",
        scope: "Namespaced",
        names: { kind: "Widget", plural: "widgets", singular: "widget", listKind: "WidgetList" },
        versions: [{ name: "v1", served: true, storage: true, schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } } }],
      },
    });
  }
  for (let n = 0; out.length < count; n++) {
    const ns = `${prefix}-${Math.floor(n / 10)}`;
    if (n % 10 === 0) out.push({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    const app = `app-${n}`;
    const group: KubeObject[] = [
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: app, namespace: ns } },
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: `${app}-config`, namespace: ns }, data: { mode: "production", n: String(n) } },
      { apiVersion: "v1", kind: "Secret", metadata: { name: `${app}-secret`, namespace: ns }, type: "Opaque", data: { password: "c2VjcmV0" } },
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: app, namespace: ns, labels: { app } },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app } },
          template: {
            metadata: { labels: { app } },
            spec: {
              serviceAccountName: app,
              containers: [
                {
                  name: "main",
                  image: "nginx:1.27",
                  envFrom: [{ configMapRef: { name: `${app}-config` } }],
                  env: [{ name: "PASSWORD", valueFrom: { secretKeyRef: { name: `${app}-secret`, key: "password" } } }],
                },
              ],
            },
          },
        },
      },
      { apiVersion: "v1", kind: "Service", metadata: { name: app, namespace: ns }, spec: { selector: { app }, ports: [{ port: 80, targetPort: 80 }] } },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: `${app}-reader`, namespace: ns },
        rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get"] }],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: `${app}-reader`, namespace: ns },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: `${app}-reader` },
        subjects: [{ kind: "ServiceAccount", name: app, namespace: ns }],
      },
      ...(opts.crds !== false ? [{ apiVersion: "bench.example.com/v1", kind: "Widget", metadata: { name: app, namespace: ns }, spec: { size: n % 7 } } as KubeObject] : []),
    ];
    out.push(...group.slice(0, Math.max(0, count - out.length)));
  }
  return out.slice(0, count);
}
