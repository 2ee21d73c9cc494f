// The realistic corpus (test/fixtures/corpus), created the way a user would with kubectl: CRDs first, since
// kubectl cannot apply custom resources in the same run as their CRDs. Idempotent.
// The end-to-end tests add a platform layer (40-, 50-: more CRDs, a RuntimeClass, webhooks) and a generated
// bulk of team namespaces, for a cluster of a few hundred objects.
import { join } from "node:path";
import { REPO_ROOT } from "./fixtures.js";
import type { TestCluster } from "./test-clusters.js";

export const CORPUS_DIR = join(REPO_ROOT, "test", "fixtures", "corpus");

type Kubectl = Pick<TestCluster, "kubectl">;

export async function populateCorpus(cluster: Kubectl): Promise<void> {
  await cluster.kubectl(["apply", "-f", join(CORPUS_DIR, "00-crds.yaml")]);
  await cluster.kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd/widgets.example.com", "crd/gadgets.example.com"]);
  for (const f of ["10-cluster.yaml", "20-shop.yaml", "30-ci-and-custom.yaml"]) await cluster.kubectl(["apply", "-f", join(CORPUS_DIR, f)]);
}

/** The namespaces of the generated bulk: team-00, team-01, ... */
export function teamNamespaces(teams: number): string[] {
  return Array.from({ length: teams }, (_, i) => `team-${String(i).padStart(2, "0")}`);
}

/** Every namespace the e2e corpus creates. */
export function e2eCorpusNamespaces(teams: number): string[] {
  return ["shop", "ci", "policy", ...teamNamespaces(teams)];
}

/** populateCorpus, the platform layer and `teams` generated team namespaces (about 35 objects each, before controllers add theirs). */
export async function populateE2eCorpus(cluster: Kubectl, opts: { teams: number }): Promise<void> {
  await populateCorpus(cluster);
  await cluster.kubectl(["apply", "-f", join(CORPUS_DIR, "40-platform-crds.yaml")]);
  await cluster.kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd/databases.platform.example.com", "crd/instanceclasses.platform.example.com"]);
  await cluster.kubectl(["apply", "-f", join(CORPUS_DIR, "50-platform.yaml")]);
  const objects = generatedTeams(opts.teams);
  // One apply per team keeps each request small; namespaces and cluster-scoped objects come first in each list.
  for (let i = 0; i < objects.length; i += 1) {
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "List", items: objects[i] }) });
  }
}

/** The objects of each generated team, in creation order. */
export function generatedTeams(teams: number): object[][] {
  return teamNamespaces(teams).map((ns, t) => teamObjects(ns, t));
}

function teamObjects(ns: string, t: number): object[] {
  const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, namespace: ns, ...extra });
  const labels = { team: ns, "app.kubernetes.io/part-of": "shop-platform" };
  const configMaps = Array.from({ length: 10 }, (_, i) => ({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: meta(`settings-${i}`, { labels: { ...labels, tier: i % 2 ? "backend" : "frontend" } }),
    data: { "app.properties": Array.from({ length: 20 + i * 10 }, (_, k) => `key.${k}=value-${t}-${i}-${k}`).join("\n"), revision: String(i) },
  }));
  const secrets = Array.from({ length: 4 }, (_, i) => ({
    apiVersion: "v1",
    kind: "Secret",
    metadata: meta(`credentials-${i}`, { labels }),
    type: "Opaque",
    stringData: { username: `svc-${t}-${i}`, password: `pw-${t}-${i}-${"x".repeat(16)}` },
  }));
  const pullSecret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: meta("registry-credentials"),
    type: "kubernetes.io/dockerconfigjson",
    stringData: { ".dockerconfigjson": JSON.stringify({ auths: { "registry.example.com": { auth: Buffer.from(`team${t}:token`).toString("base64") } } }) },
  };
  const podSpec = {
    serviceAccountName: "api",
    containers: [
      {
        name: "api",
        image: `registry.example.com/${ns}/api:1.${t}.0`,
        ports: [{ containerPort: 8080, name: "http" }],
        envFrom: [{ configMapRef: { name: "settings-0" } }],
        env: [{ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "credentials-0", key: "password" } } }],
        volumeMounts: [{ name: "data", mountPath: "/data" }, { name: "settings", mountPath: "/etc/settings" }],
        resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
      },
    ],
    volumes: [
      { name: "data", persistentVolumeClaim: { claimName: "data" } },
      { name: "settings", configMap: { name: "settings-1" } },
    ],
  };
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels } },
    {
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name: `${ns}-data`, labels },
      spec: {
        capacity: { storage: "2Gi" },
        accessModes: ["ReadWriteOnce"],
        persistentVolumeReclaimPolicy: "Retain",
        storageClassName: "fast",
        hostPath: { path: `/srv/${ns}/data` },
        claimRef: { namespace: ns, name: "data" },
      },
    },
    { apiVersion: "example.com/v1", kind: "Gadget", metadata: { name: `${ns}-gear` }, spec: { teeth: 10 + t } },
    pullSecret,
    { apiVersion: "v1", kind: "ServiceAccount", metadata: meta("api", { labels }), imagePullSecrets: [{ name: "registry-credentials" }] },
    ...configMaps,
    ...secrets,
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: meta("settings-reader"), rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "watch"] }] },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: meta("api-reads-settings"),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "settings-reader" },
      subjects: [{ kind: "ServiceAccount", name: "api", namespace: ns }],
    },
    {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: meta("data", { labels }),
      spec: { accessModes: ["ReadWriteOnce"], storageClassName: "fast", volumeName: `${ns}-data`, resources: { requests: { storage: "2Gi" } } },
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta("api", { labels: { ...labels, app: "api" } }),
      spec: { replicas: 2, selector: { matchLabels: { app: "api" } }, template: { metadata: { labels: { app: "api" } }, spec: podSpec } },
    },
    { apiVersion: "v1", kind: "Service", metadata: meta("api", { labels }), spec: { selector: { app: "api" }, ports: [{ name: "http", port: 80, targetPort: "http" }] } },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: meta("api-public"),
      // One team chose its nodePort; the others let the apiserver allocate one.
      spec: { type: "NodePort", selector: { app: "api" }, ports: [{ name: "http", port: 80, targetPort: "http", ...(t === 0 ? { nodePort: 30080 } : {}) }] },
    },
    { apiVersion: "v1", kind: "Service", metadata: meta("cache"), spec: { clusterIP: "None", selector: { app: "cache" }, ports: [{ name: "redis", port: 6379 }] } },
    {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: meta("cache"),
      spec: {
        serviceName: "cache",
        replicas: 1,
        selector: { matchLabels: { app: "cache" } },
        template: { metadata: { labels: { app: "cache" } }, spec: { containers: [{ name: "redis", image: "redis:7", ports: [{ containerPort: 6379 }] }] } },
        volumeClaimTemplates: [{ metadata: { name: "cache" }, spec: { accessModes: ["ReadWriteOnce"], storageClassName: "fast", resources: { requests: { storage: "1Gi" } } } }],
      },
    },
    {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: meta("schema-migration"),
      spec: { backoffLimit: 2, template: { spec: { restartPolicy: "Never", serviceAccountName: "api", containers: [{ name: "migrate", image: `registry.example.com/${ns}/migrate:1.0`, envFrom: [{ secretRef: { name: "credentials-1" } }] }] } } },
    },
    {
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: meta("cleanup"),
      spec: {
        schedule: `${t} 4 * * *`,
        jobTemplate: { spec: { template: { spec: { restartPolicy: "OnFailure", containers: [{ name: "cleanup", image: "busybox:1.36", envFrom: [{ configMapRef: { name: "settings-2" } }] }] } } } },
      },
    },
    { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: meta("api-ingress"), spec: { podSelector: { matchLabels: { app: "api" } }, ingress: [{ ports: [{ port: 8080 }] }] } },
    ...Array.from({ length: 4 }, (_, i) => ({
      apiVersion: "example.com/v1",
      kind: "Widget",
      metadata: meta(`widget-${i}`, { labels }),
      spec: { size: i + 1, color: ["red", "green", "blue", "black"][i], gadgetRef: `${ns}-gear` },
    })),
    {
      apiVersion: "platform.example.com/v1",
      kind: "Database",
      metadata: meta("main"),
      spec: { engine: "postgres", version: "17", instanceClassName: t % 2 ? "large" : "small", storageGiB: 10 + t, credentialsSecret: "credentials-2" },
    },
  ];
}
