// restore-order is never silently off (issue 12). A Velero server started outside a cluster with its kubeconfig
// as a flag (not in KUBECONFIG) gives its plugins no cluster credentials: twinsnap's restore-order then passes
// items through and says so once per backup and per restore, at warning level, in `velero backup logs` /
// `velero restore logs`, naming the cause and the fix; `twinsnap doctor` reports it for the running Velero.
import assert from "node:assert/strict";
import { join } from "node:path";
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

const offLines = (log: string, family: string, name: string) => log.split("\n").filter((l) => l.includes(`twinsnap.dev/restore-order is OFF for ${family} ${name}:`));

describe("a Velero whose plugins have no cluster credentials: restore-order says it is off", function () {
  this.timeout(600_000);
  const env = useE2eEnvironment("no-credentials");
  let cluster: E2eCluster;
  let velero: VeleroServer;
  let backup: VeleroRunStatus;
  let restore: VeleroRunStatus;
  let doctor: CommandResult;

  before(async function () {
    this.timeout(600_000);
    cluster = await env().startCluster("plain");
    await cluster.apply(APP);
    velero = await env().startVelero(cluster, { twinsnap: true, prefix: "no-credentials", pluginCredentials: false });
    backup = await velero.cli.backupCreate("shop-nightly", ["--include-namespaces", "shop", "--snapshot-volumes=false"]);
    restore = await velero.cli.restoreCreate("shop-copy", "shop-nightly", ["--namespace-mappings", "shop:shop-copy"]);
    doctor = await runCommand(
      join(TWINSNAP_EXECUTABLE_DIR, "twinsnap"),
      ["doctor", "--kubeconfig", cluster.kubeconfigPath, "--velero-namespace", velero.namespace],
      { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: join(env().dir, "doctor-home") }, allowFailure: true, label: "twinsnap doctor" },
    );
  });

  it("the backup completes, every item in it, with one warning naming the cause and the fix", async () => {
    assert.equal(backup.phase, "Completed", "a missing cluster is not an error of the backup: items pass through");
    assert.ok(backup.warnings >= 1, `warnings: ${backup.warnings}`);
    const log = await velero.cli.backupLogs("shop-nightly");
    const lines = offLines(log, "backup", "shop-nightly");
    assert.equal(lines.length, 1, `once per backup, not per item:\n${lines.join("\n")}`);
    assert.match(lines[0]!, /level=warning/);
    assert.match(lines[0]!, /the plugin has no cluster credentials .*Fix: run Velero in the cluster with its service account.*or set KUBECONFIG in the Velero server's environment/);
    const items = (await env().store.backupItems("no-credentials", "shop-nightly")).map((i) => `${i.object.kind} ${i.namespace}/${i.name}`);
    for (const item of ["ConfigMap shop/settings", "Deployment shop/web"]) assert.ok(items.includes(item), item);
  });

  it("the restore says so too, once, and restores the items", async () => {
    assert.equal(restore.phase, "Completed");
    const lines = offLines(await velero.cli.restoreLogs("shop-copy"), "restore", "shop-copy");
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0]!, /level=warning .*webhooks, admission policies and APIServices are not deferred/);
    await cluster.getJson(["configmap", "settings", "-n", "shop-copy"]);
  });

  it("twinsnap doctor reports it for the running Velero, with exit code 1", () => {
    assert.equal(doctor.code, 1, doctor.stdout + doctor.stderr);
    assert.match(doctor.stdout, /^OK    twinsnap\.dev\/restore-order loaded: .*RestoreItemActionV2/m);
    assert.match(doctor.stdout, /^WARN  restore-order in the latest backup: twinsnap\.dev\/restore-order is OFF for backup shop-nightly: the plugin has no cluster credentials/m);
    assert.match(doctor.stdout, /^WARN  restore-order in the latest restore: .*OFF for restore shop-copy/m);
  });
});
