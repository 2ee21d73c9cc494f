// Webhooks and aggregated APIs last, side by side with stock Velero on the same kind of backup (issue 12).
//
// The source cluster: a namespace guarded by a fail-closed validating webhook AND a fail-closed mutating webhook
// (failurePolicy: Fail) covering ConfigMaps, Services, Deployments and a custom resource there, served by this
// test on 127.0.0.1 (called by URL: the apiserver refuses Endpoints and EndpointSlices on loopback addresses, so no
// Service can lead it to a loopback server); and an APIService whose backend Service has no endpoints. The
// webhooks fire there: a create in the guarded namespace is refused.
//
// Then the backend goes away (its Pods are not up in the target: here the test's server stops before the
// restores). Stock Velero 1.18.1 creates resources in its fixed order (a priority list, then the rest
// alphabetically), so mutatingwebhookconfigurations come before orders.shop.example.com: the guarded custom
// resource is refused ("failed calling webhook") and the restore ends PartiallyFailed. With twinsnap,
// restore-order defers the webhook configurations and the APIService to item operations that create them after
// every other item: Completed, every object there, and the deferred ones with Velero's restore labels.
import assert from "node:assert/strict";
import { useE2eEnvironment } from "./support/e2e-environment.js";
import type { E2eCluster } from "./support/cluster.js";
import { REFUSAL, startAdmissionWebhookServer, type AdmissionWebhookServer } from "./support/admission-webhook-server.js";
import { parseLog, twinsnapLines } from "./support/velero-log.js";
import type { VeleroRunStatus } from "./support/velero-cli.js";
import { waitUntil } from "./support/wait.js";

const GUARDED = "guarded";
const BACKEND_NS = "guard-system";
const ENFORCE_LABEL = "guard.example.com/enforce";

const CRD = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "orders.shop.example.com" },
  spec: {
    group: "shop.example.com",
    scope: "Namespaced",
    names: { plural: "orders", singular: "order", kind: "Order" },
    versions: [{ name: "v1", served: true, storage: true, schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } } }],
  },
};

/** What the webhooks guard: one of each covered kind. */
const GUARDED_OBJECTS = [
  { apiVersion: "v1", kind: "Namespace", metadata: { name: GUARDED, labels: { [ENFORCE_LABEL]: "true" } } },
  { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings", namespace: GUARDED }, data: { tier: "gold" } },
  { apiVersion: "v1", kind: "Service", metadata: { name: "web", namespace: GUARDED }, spec: { selector: { app: "web" }, ports: [{ port: 80, targetPort: 8080 }] } },
  {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: GUARDED },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "web" } },
      template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "web", image: "nginx:1.27", envFrom: [{ configMapRef: { name: "settings" } }] }] } },
    },
  },
  { apiVersion: "shop.example.com/v1", kind: "Order", metadata: { name: "big-order", namespace: GUARDED }, spec: { items: 3 } },
];

const RULES = [
  { apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["configmaps", "services"], scope: "Namespaced" },
  { apiGroups: ["apps"], apiVersions: ["v1"], operations: ["CREATE"], resources: ["deployments"], scope: "Namespaced" },
  { apiGroups: ["shop.example.com"], apiVersions: ["v1"], operations: ["CREATE"], resources: ["orders"], scope: "Namespaced" },
];

function admission(server: AdmissionWebhookServer) {
  const hook = (name: string, path: string) => ({
    name,
    admissionReviewVersions: ["v1"],
    sideEffects: "None",
    failurePolicy: "Fail",
    timeoutSeconds: 5,
    namespaceSelector: { matchLabels: { [ENFORCE_LABEL]: "true" } },
    clientConfig: { url: `${server.url}${path}`, caBundle: Buffer.from(server.caBundle).toString("base64") },
    rules: RULES,
  });
  return {
    backend: [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: BACKEND_NS } },
      // The aggregated API's backend: a Service with no endpoints anywhere (unavailable in both clusters).
      { apiVersion: "v1", kind: "Service", metadata: { name: "guard-metrics", namespace: BACKEND_NS }, spec: { ports: [{ name: "https", port: 443, targetPort: 6443 }] } },
    ],
    hooks: [
      { apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingWebhookConfiguration", metadata: { name: "guard.example.com" }, webhooks: [hook("validate.guard.example.com", "/validate")] },
      { apiVersion: "admissionregistration.k8s.io/v1", kind: "MutatingWebhookConfiguration", metadata: { name: "defaults.guard.example.com" }, webhooks: [hook("mutate.guard.example.com", "/mutate")] },
      {
        apiVersion: "apiregistration.k8s.io/v1",
        kind: "APIService",
        metadata: { name: "v1alpha1.metrics.guard.example.com" },
        spec: { group: "metrics.guard.example.com", version: "v1alpha1", service: { namespace: BACKEND_NS, name: "guard-metrics", port: 443 }, groupPriorityMinimum: 1000, versionPriority: 15, insecureSkipTLSVerify: true },
      },
    ],
  };
}

const DEFERRED: [resource: string, name: string][] = [
  ["validatingwebhookconfigurations.admissionregistration.k8s.io", "guard.example.com"],
  ["mutatingwebhookconfigurations.admissionregistration.k8s.io", "defaults.guard.example.com"],
  ["apiservices.apiregistration.k8s.io", "v1alpha1.metrics.guard.example.com"],
];
const GUARDED_GETS: [resource: string, name: string][] = [
  ["configmap", "settings"],
  ["service", "web"],
  ["deployment.apps", "web"],
  ["orders.shop.example.com", "big-order"],
];

const BACKUP = "guarded-platform";
const BACKUP_FLAGS = ["--exclude-namespaces", "velero,velero-stock", "--include-cluster-resources=true", "--snapshot-volumes=false"];

async function present(cluster: E2eCluster, resource: string, name: string, namespace?: string): Promise<Record<string, any> | undefined> {
  const out = await cluster.kubectl(["get", resource, name, ...(namespace ? ["-n", namespace] : []), "-o", "json", "--ignore-not-found"]);
  return out.trim() === "" ? undefined : JSON.parse(out);
}

/** Seconds between the Restore's start and completion timestamps, as Velero records them. */
function restoreSeconds(status: VeleroRunStatus): number {
  const s = status.raw.status ?? {};
  return (Date.parse(s.completionTimestamp) - Date.parse(s.startTimestamp)) / 1000;
}

describe("side by side: webhooks and an aggregated API whose backends cannot serve in the target", function () {
  this.timeout(900_000);
  const env = useE2eEnvironment("webhooks-last");
  let server: AdmissionWebhookServer;
  let refusedInSource = "";
  const runs: Record<"stock" | "twinsnap", { target: E2eCluster; restore: VeleroRunStatus; log: string; describe: string; wallSeconds: number }> = {} as never;

  before(async function () {
    this.timeout(900_000);
    server = await startAdmissionWebhookServer();
    env().onStop(() => server.stop());
    const [source, stockTarget, twinsnapTarget] = await Promise.all([env().startCluster("source"), env().startCluster("stock-target"), env().startCluster("twinsnap-target")]);
    await source.apply([CRD]);
    await source.kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd/orders.shop.example.com"]);
    await source.apply(GUARDED_OBJECTS);
    const { backend, hooks } = admission(server);
    await source.apply(backend);
    await source.apply(hooks);

    // The webhooks fire in the source: a create in the guarded namespace is refused (once the apiserver's
    // informers have the configurations), and both webhooks were called.
    refusedInSource = await waitUntil(
      "a create in the guarded namespace refused by the webhook in the source cluster",
      async () => {
        const probe = await source.kubectl(["create", "configmap", "probe", "-n", GUARDED, "--from-literal=a=b"]).then(
          () => "created",
          (err: Error) => err.message,
        );
        if (probe === "created") await source.kubectl(["delete", "configmap", "probe", "-n", GUARDED]);
        return probe.includes(REFUSAL) ? probe : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );

    const [stockSource, twinsnapSource, stockVelero, twinsnapVelero] = await Promise.all([
      env().startVelero(source, { twinsnap: false, namespace: "velero-stock", prefix: "stock" }),
      env().startVelero(source, { twinsnap: true, prefix: "twinsnap" }),
      env().startVelero(stockTarget, { twinsnap: false, namespace: "velero-stock", prefix: "stock" }),
      env().startVelero(twinsnapTarget, { twinsnap: true, prefix: "twinsnap" }),
    ]);
    const flavours = [
      ["stock", stockSource, stockTarget, stockVelero],
      ["twinsnap", twinsnapSource, twinsnapTarget, twinsnapVelero],
    ] as const;
    await Promise.all(
      flavours.map(async ([name, sourceVelero, target, targetVelero]) => {
        const backup = await sourceVelero.cli.backupCreate(BACKUP, BACKUP_FLAGS);
        assert.ok(["Completed", "PartiallyFailed"].includes(backup.phase), `${name} backup: ${backup.phase}`);
        const stored = (await env().store.backupItems(name, BACKUP)).map((i) => `${i.object.kind} ${i.namespace}/${i.name}`);
        for (const item of ["ValidatingWebhookConfiguration /guard.example.com", "APIService /v1alpha1.metrics.guard.example.com", "Order guarded/big-order"]) {
          assert.ok(stored.includes(item), `the ${name} backup holds ${item}`);
        }
        await targetVelero.waitForBackup(BACKUP);
      }),
    );
    // The backend is gone while the targets are restored (its Pods are not up there).
    await server.stop();
    // The two restores one after the other, so that their times compare on an equally loaded machine.
    for (const [name, , target, targetVelero] of flavours) {
      const started = Date.now();
      const restore = await targetVelero.cli.restoreCreate(`${BACKUP}-restore`, BACKUP);
      const wallSeconds = (Date.now() - started) / 1000;
      runs[name] = {
        target,
        restore,
        wallSeconds,
        log: await targetVelero.cli.restoreLogs(`${BACKUP}-restore`),
        describe: await targetVelero.cli.restoreDescribe(`${BACKUP}-restore`),
      };
    }
    process.stdout.write(
      `      restore times (velero restore create --wait, and Velero's start-to-completion): ` +
        `stock ${runs.stock.wallSeconds.toFixed(1)} s / ${restoreSeconds(runs.stock.restore)} s, ` +
        `twinsnap ${runs.twinsnap.wallSeconds.toFixed(1)} s / ${restoreSeconds(runs.twinsnap.restore)} s\n`,
    );
  });

  it("in the source, both webhooks fire and refuse a create in the guarded namespace", () => {
    assert.match(refusedInSource, /admission webhook "validate\.guard\.example\.com" denied the request/);
    assert.ok(server.calls.mutate > 0, "the mutating webhook was called");
    assert.ok(server.calls.validate > 0, "the validating webhook was called");
  });

  it("stock Velero: PartiallyFailed, the guarded custom resource refused because the webhook came first", async () => {
    const { restore, target, log } = runs.stock;
    assert.equal(restore.phase, "PartiallyFailed");
    assert.match(log, /failed calling webhook \\?"mutate\.guard\.example\.com\\?"/);
    assert.equal(await present(target, "orders.shop.example.com", "big-order", GUARDED), undefined, "the Order is missing");
  });

  it("Velero with twinsnap: Completed, every guarded object there, then the webhooks and the APIService", async () => {
    const { restore, target, log, describe } = runs.twinsnap;
    assert.equal(restore.phase, "Completed", `${describe}\n${log.split("\n").filter((l) => /level=(error|warning)/.test(l)).join("\n")}`);
    assert.equal(restore.errors, 0);
    for (const [resource, name] of GUARDED_GETS) assert.ok(await present(target, resource, name, GUARDED), `${resource} ${GUARDED}/${name} restored`);
    for (const [resource, name] of DEFERRED) {
      const obj = await present(target, resource, name);
      assert.ok(obj, `${resource} ${name} restored`);
      assert.equal(obj.metadata.labels["velero.io/backup-name"], BACKUP, `${name} has Velero's restore labels`);
      assert.equal(obj.metadata.labels["velero.io/restore-name"], `${BACKUP}-restore`);
      assert.equal(obj.metadata.annotations?.["twinsnap.dev/restore-after"], undefined, "twinsnap's record does not reach the cluster");
    }
    const hook = await present(target, DEFERRED[0]![0], DEFERRED[0]![1]);
    assert.equal(hook!.webhooks[0].failurePolicy, "Fail", "restored as backed up");
    // Velero skipped them in its own order (twinsnap's item operations created them once Velero had restored
    // everything else): the Order was created while no fail-closed webhook was there to refuse it.
    const lines = parseLog(log);
    for (const [resource, name] of DEFERRED) {
      assert.ok(
        lines.some((l) => l.msg === "Skipping restore because a registered plugin discarded it" && l.fields.groupResource === resource && l.fields["original name"] === name),
        `Velero skipped ${resource} ${name} in its own order`,
      );
    }
    assert.deepEqual(twinsnapLines(lines).filter((l) => l.level === "error" || l.level === "warning").map((l) => l.raw), []);
    const status = restore.raw.status;
    assert.deepEqual(
      [status.restoreItemOperationsAttempted, status.restoreItemOperationsCompleted, status.restoreItemOperationsFailed ?? 0],
      [3, 3, 0],
      "one item operation per deferred object, each completed",
    );
    for (const id of ["restore-last/validatingwebhookconfigurations/guard.example.com", "restore-last/apiservices/v1alpha1.metrics.guard.example.com"]) {
      assert.ok(describe.includes(id), `velero restore describe --details lists operation ${id}`);
    }
  });

  it("the guarded namespace is guarded again in the twinsnap target: the webhooks are live and fail closed", async () => {
    const { target } = runs.twinsnap;
    await assert.rejects(target.kubectl(["create", "configmap", "late", "-n", GUARDED, "--from-literal=a=b"]), /failed calling webhook/);
  });
});
