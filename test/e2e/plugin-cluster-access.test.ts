// restore-order is never silently off (issue 12), with Velero started outside a cluster and no KUBECONFIG in its
// environment: `velero server --kubeconfig FILE`. Velero passes its server arguments to its plugins, so:
// - with `--kubeconfig` alone, twinsnap uses that file: restore-order is on (the setup, where it used to
//   be silently missing);
// - with `--kubeconfig FILE --kubecontext CTX`, where FILE's current context names an apiserver that is not
//   there, the plugin has no cluster it can reach (it follows the kubeconfig, not Velero's --kubecontext):
//   restore-order passes items through and says so once per backup and per restore, at warning level, in
//   `velero backup logs` / `velero restore logs`, with the cause and the fix; `twinsnap doctor` reports it.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../support/control-plane.js";
import { runCommand, type CommandResult, type E2eCluster } from "./support/cluster.js";
import { useE2eEnvironment } from "./support/e2e-environment.js";
import { TWINSNAP_EXECUTABLE_DIR } from "./support/plugin-dir.js";
import type { VeleroServer } from "./support/velero-server.js";
import type { VeleroRunStatus } from "./support/velero-cli.js";

const APP = [
  { apiVersion: "v1", kind: "Namespace", metadata: { name: "shop" } },
  { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings", namespace: "shop" }, data: { tier: "gold" } },
  {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace: "shop" },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: "web" } },
      template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "web", image: "nginx:1.27", envFrom: [{ configMapRef: { name: "settings" } }] }] } },
    },
  },
];

/** A webhook that never intercepts anything here (no namespace has its label; Ignore): cluster-scoped, restored last. */
const POLICY_WEBHOOK = {
  apiVersion: "admissionregistration.k8s.io/v1",
  kind: "ValidatingWebhookConfiguration",
  metadata: { name: "shop-policy.example.com" },
  webhooks: [
    {
      name: "shop-policy.example.com",
      admissionReviewVersions: ["v1"],
      sideEffects: "None",
      failurePolicy: "Ignore",
      namespaceSelector: { matchLabels: { "shop-policy.example.com/enforce": "true" } },
      clientConfig: { url: "https://127.0.0.1:9/validate" },
      rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["configmaps"] }],
    },
  ],
};

const offLines = (log: string, family: string, name: string) => log.split("\n").filter((l) => l.includes(`twinsnap.dev/restore-order is OFF for ${family} ${name}:`));

/** The cluster's kubeconfig plus a context "gone" (an apiserver on a loopback port nobody listens on), made current. */
async function kubeconfigWithDeadCurrentContext(cluster: E2eCluster, path: string): Promise<string> {
  const dead = `https://127.0.0.1:${await freePort()}`;
  const text = readFileSync(cluster.kubeconfigPath, "utf8")
    .replace("clusters:\n", `clusters:\n- name: gone\n  cluster:\n    server: ${dead}\n    insecure-skip-tls-verify: true\n`)
    .replace("contexts:\n", "contexts:\n- name: gone\n  context:\n    cluster: gone\n    user: admin\n")
    .replace(/^current-context: .*$/m, "current-context: gone");
  writeFileSync(path, text);
  return path;
}

function doctor(env: () => { dir: string }, cluster: E2eCluster, namespace: string): Promise<CommandResult> {
  return runCommand(join(TWINSNAP_EXECUTABLE_DIR, "twinsnap"), ["doctor", "--kubeconfig", cluster.kubeconfigPath, "--velero-namespace", namespace], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: join(env().dir, "doctor-home") },
    allowFailure: true,
    label: `twinsnap doctor -n ${namespace}`,
  });
}

describe("Velero started outside a cluster with --kubeconfig: restore-order on, or loudly off", function () {
  this.timeout(600_000);
  const env = useE2eEnvironment("kubeconfig-flag");
  let cluster: E2eCluster;
  const runs = {} as Record<"flag" | "unreachable", { velero: VeleroServer; backup: VeleroRunStatus; restore: VeleroRunStatus; doctor: CommandResult }>;
  let partial: VeleroRunStatus;

  before(async function () {
    this.timeout(600_000);
    cluster = await env().startCluster("plain");
    await cluster.apply([...APP, POLICY_WEBHOOK]);
    const deadCurrent = await kubeconfigWithDeadCurrentContext(cluster, join(env().dir, "kubeconfig-dead-current"));
    const [flag, unreachable] = await Promise.all([
      env().startVelero(cluster, { twinsnap: true, prefix: "kubeconfig-flag", kubeconfigFlag: cluster.kubeconfigPath }),
      env().startVelero(cluster, { twinsnap: true, namespace: "velero-ctx", prefix: "kubecontext", kubeconfigFlag: deadCurrent, serverArgs: ["--kubecontext", "plain"] }),
    ]);
    for (const [name, velero] of [["flag", flag], ["unreachable", unreachable]] as const) {
      const backup = await velero.cli.backupCreate("shop-nightly", ["--include-namespaces", "shop", "--include-cluster-resources=true", "--snapshot-volumes=false"]);
      const restore = await velero.cli.restoreCreate("shop-copy", "shop-nightly", ["--namespace-mappings", `shop:shop-${name}`]);
      runs[name] = { velero, backup, restore, doctor: await doctor(env, cluster, velero.namespace) };
    }
    partial = await flag.cli.restoreCreate("shop-configmaps", "shop-nightly", ["--include-resources", "configmaps", "--namespace-mappings", "shop:shop-partial"]);
  });

  it("--kubeconfig alone: twinsnap uses it, restore-order records dependencies, no warning; doctor is content", async () => {
    const { velero, backup, doctor } = runs.flag;
    assert.equal(backup.phase, "Completed");
    assert.deepEqual(offLines(await velero.cli.backupLogs("shop-nightly"), "backup", "shop-nightly"), []);
    const web = (await env().store.backupItems("kubeconfig-flag", "shop-nightly")).find((i) => i.object.kind === "Deployment" && i.name === "web");
    assert.match(web!.object.metadata.annotations?.["twinsnap.dev/restore-after"] ?? "", /"configmaps","namespace":"shop","name":"settings"/, "restore-order ran at backup");
    assert.equal(doctor.code, 0, doctor.stdout + doctor.stderr);
    assert.match(doctor.stdout, /^OK    restore-order in the latest backup: on for backup shop-nightly/m);
  });

  it("a restore onto the cluster that has the webhook: deferred, found there, left as it is (Velero's policy); Completed", () => {
    const { restore } = runs.flag;
    assert.equal(restore.phase, "Completed");
    const s = restore.raw.status;
    assert.deepEqual([s.restoreItemOperationsAttempted, s.restoreItemOperationsCompleted, s.restoreItemOperationsFailed ?? 0], [1, 1, 0]);
  });

  it("a partial restore (--include-resources configmaps): only what Velero restores is deferred, i.e. nothing", async () => {
    assert.equal(partial.phase, "Completed");
    assert.equal(partial.raw.status.restoreItemOperationsAttempted ?? 0, 0);
    await cluster.getJson(["configmap", "settings", "-n", "shop-partial"]);
  });

  it("no reachable cluster: the backup completes, every item in it, with one warning naming the cause and the fix", async () => {
    const { velero, backup } = runs.unreachable;
    assert.equal(backup.phase, "Completed", "a missing cluster is not an error of the backup: items pass through");
    assert.ok(backup.warnings >= 1, `warnings: ${backup.warnings}`);
    const lines = offLines(await velero.cli.backupLogs("shop-nightly"), "backup", "shop-nightly");
    assert.equal(lines.length, 1, `once per backup, not per item:\n${lines.join("\n")}`);
    assert.match(lines[0]!, /level=warning/);
    assert.match(lines[0]!, /the plugin cannot reach the apiserver: .*127\.0\.0\.1.*Fix: check the credentials and address Velero's environment gives its plugins/);
    const items = (await env().store.backupItems("kubecontext", "shop-nightly")).map((i) => `${i.object.kind} ${i.namespace}/${i.name}`);
    for (const item of ["ConfigMap shop/settings", "Deployment shop/web"]) assert.ok(items.includes(item), item);
  });

  it("the restore says so too, once, and restores the items", async () => {
    const { velero, restore } = runs.unreachable;
    assert.equal(restore.phase, "Completed");
    const lines = offLines(await velero.cli.restoreLogs("shop-copy"), "restore", "shop-copy");
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0]!, /level=warning .*webhooks, admission policies and APIServices are not deferred/);
    await cluster.getJson(["configmap", "settings", "-n", "shop-unreachable"]);
  });

  it("twinsnap doctor reports it for the running Velero, with exit code 1", () => {
    const { doctor } = runs.unreachable;
    assert.equal(doctor.code, 1, doctor.stdout + doctor.stderr);
    assert.match(doctor.stdout, /^OK    twinsnap\.dev\/restore-order loaded: .*RestoreItemActionV2/m);
    assert.match(doctor.stdout, /^WARN  restore-order in the latest backup: twinsnap\.dev\/restore-order is OFF for backup shop-nightly: the plugin cannot reach the apiserver/m);
    assert.match(doctor.stdout, /^WARN  restore-order in the latest restore: .*OFF for restore shop-copy/m);
  });
});
