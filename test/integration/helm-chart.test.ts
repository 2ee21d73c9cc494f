// charts/twinsnap: linted by helm, rendered with the values operators set, and accepted by a real apiserver
// (server-side dry run, so the schema of every object is checked). Docker images cannot be built here (no
// engine); the Dockerfile's build stage runs the same npm scripts that npm test runs.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import yaml from "js-yaml";
import { REPO_ROOT } from "../support/fixtures.js";
import { peer } from "../support/peers.js";
import { testCluster } from "../support/test-clusters.js";

const run = promisify(execFile);
const CHART = join(REPO_ROOT, "charts", "twinsnap");
const helm = async (args: string[]) => (await run(peer("HELM_BIN"), args, { maxBuffer: 16 * 1024 * 1024 })).stdout;

describe("the Helm chart", function () {
  this.timeout(120_000);
  const work = mkdtempSync(join(tmpdir(), "twinsnap-chart-"));

  it("passes helm lint, and the values schema refuses a bad store URL", async () => {
    assert.match(await helm(["lint", CHART, "--strict"]), /1 chart\(s\) linted, 0 chart\(s\) failed/);
    await assert.rejects(helm(["template", "t", CHART, "--set", "coordinator.store=ftp://x"]), /values don't meet the specifications of the schema|does not match pattern/);
  });

  it("renders objects a real apiserver accepts, with least-privilege RBAC and a hardened pod", async () => {
    const cluster = await testCluster("source", { withControllerManager: true });
    await cluster.kubectl(["create", "namespace", "velero"]).catch(() => undefined);
    const rendered = await helm(["template", "dr", CHART, "--namespace", "velero", "--set-json", 'pluginConfig={"disableRules":["pod-priority"]}']);
    const file = join(work, "rendered.yaml");
    writeFileSync(file, rendered);
    const applied = await cluster.kubectl(["apply", "--dry-run=server", "-f", file]);
    assert.match(applied, /deployment.apps\/dr-twinsnap created \(server dry run\)/);
    const docs = yaml.loadAll(rendered).filter(Boolean) as Record<string, any>[];
    const byKind = (k: string) => docs.filter((d) => d.kind === k);
    const pod = byKind("Deployment")[0]!.spec.template.spec;
    assert.equal(pod.containers[0].securityContext.readOnlyRootFilesystem, true);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.containers[0].args.includes("--etcd-cacert=/etc/twinsnap/etcd/ca.crt"));
    const rules = byKind("Role")[0]!.rules as { resources: string[]; verbs: string[] }[];
    assert.deepEqual(rules.find((r) => r.resources.includes("backups"))!.verbs, ["get", "list", "watch", "patch"]);
    assert.ok(!docs.some((d) => d.kind === "ClusterRole" && JSON.stringify(d.rules).includes('"*"')), "no wildcard permissions");
    const cm = byKind("ConfigMap")[0]!;
    assert.equal(cm.metadata.labels["velero.io/plugin-config"], "");
    assert.deepEqual(yaml.load(cm.data["config.yaml"]), { disableRules: ["pod-priority"] });
  });

  it("store bsl:<name>: the Role may get that BackupStorageLocation and its one credentials Secret, no other", async () => {
    const cluster = await testCluster("source", { withControllerManager: true });
    await cluster.kubectl(["create", "namespace", "velero"]).catch(() => undefined);
    const roleRules = (rendered: string) => (yaml.loadAll(rendered).filter(Boolean) as Record<string, any>[]).find((d) => d.kind === "Role")!.rules as Record<string, string[]>[];
    const rendered = await helm(["template", "dr", CHART, "--namespace", "velero", "--set", "coordinator.store=bsl:primary", "--set", "coordinator.bslCredentialsSecret=bsl-aws"]);
    const rules = roleRules(rendered);
    assert.deepEqual(rules.find((r) => r.resources!.includes("backupstoragelocations")), { apiGroups: ["velero.io"], resources: ["backupstoragelocations"], resourceNames: ["primary"], verbs: ["get"] });
    assert.deepEqual(rules.find((r) => r.resources!.includes("secrets")), { apiGroups: [""], resources: ["secrets"], resourceNames: ["bsl-aws"], verbs: ["get"] });
    assert.match(rendered, /--store=bsl:primary/);
    assert.doesNotMatch(rendered, /mountPath: primary|name: store$/m, "no hostPath for a bucket");
    const file = join(work, "rendered-bsl.yaml");
    writeFileSync(file, rendered);
    assert.match(await cluster.kubectl(["apply", "--dry-run=server", "-f", file]), /role.rbac.authorization.k8s.io\/dr-twinsnap created \(server dry run\)/);
    const fileStore = roleRules(await helm(["template", "dr", CHART, "--namespace", "velero"]));
    assert.ok(!fileStore.some((r) => r.resources!.includes("secrets") || r.resources!.includes("backupstoragelocations")), "a file:// store reads no Secret");
  });

  it("kubeadm's etcd key (0600, root) from host files: an init step without capabilities copies the three files for the coordinator's user; with a Secret, no such step", async () => {
    const podOf = async (args: string[]) => (yaml.loadAll(await helm(["template", "dr", CHART, "--namespace", "velero", ...args])).filter(Boolean) as Record<string, any>[]).find((d) => d.kind === "Deployment")!.spec.template.spec;
    const pod = await podOf(["--set", "coordinator.etcd.tls.hostFiles.ca=/etc/kubernetes/pki/etcd/ca.crt", "--set", "coordinator.etcd.tls.hostFiles.cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt", "--set", "coordinator.etcd.tls.hostFiles.key=/etc/kubernetes/pki/etcd/healthcheck-client.key"]);
    const init = pod.initContainers[0];
    assert.equal(init.name, "etcd-client-certs");
    assert.deepEqual(init.securityContext.capabilities, { drop: ["ALL"] });
    assert.equal(init.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(pod.volumes.find((v: any) => v.name === "etcd-certs").emptyDir, { medium: "Memory", sizeLimit: "1Mi" });
    assert.deepEqual(init.volumeMounts.map((m: any) => m.name).sort(), ["etcd-ca", "etcd-cert", "etcd-certs", "etcd-key"]);
    assert.deepEqual(pod.containers[0].volumeMounts.filter((m: any) => m.name.startsWith("etcd")).map((m: any) => m.name), ["etcd-certs"], "the coordinator mounts only the copies");
    const fromSecret = await podOf([]);
    assert.equal(fromSecret.initContainers, undefined);
    assert.equal(fromSecret.volumes.find((v: any) => v.name === "etcd-certs").secret.secretName, "twinsnap-etcd-client");
  });

  it("encrypts with a passphrase from a mounted Secret key instead of recipients, never both", async () => {
    const rendered = await helm(["template", "dr", CHART, "--namespace", "velero", "--set", "coordinator.encryptPassphraseSecret.name=snapshot-passphrase"]);
    assert.match(rendered, /--encrypt-passphrase-file=\/etc\/twinsnap\/passphrase\/passphrase$/m);
    const deployment = yaml.loadAll(rendered).find((d) => (d as { kind?: string })?.kind === "Deployment") as { spec: { template: { spec: { volumes: { name: string; secret?: { secretName: string; items: unknown[] } }[] } } } };
    const volume = deployment.spec.template.spec.volumes.find((v) => v.name === "passphrase");
    assert.deepEqual(volume?.secret?.items, [{ key: "passphrase", path: "passphrase" }], "that one key only");
    assert.equal(volume?.secret?.secretName, "snapshot-passphrase");
    assert.doesNotMatch(await helm(["template", "dr", CHART, "--namespace", "velero"]), /passphrase/, "nothing without it");
    await assert.rejects(
      helm(["template", "dr", CHART, "--set", "coordinator.encryptPassphraseSecret.name=p", "--set", "coordinator.encryptTo[0]=age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]),
      /exclude each other/,
    );
  });

  it("a managed control plane: no etcd certificates mounted, etcd endpoints none", async () => {
    const rendered = await helm(["template", "dr", CHART, "--namespace", "velero", "--set", "coordinator.etcd.endpoints=none"]);
    assert.match(rendered, /--etcd-endpoints=none/);
    assert.doesNotMatch(rendered, /etcd-certs/);
  });

  it("shares snapshots for bursts with coordinator.shareWindow (off by default), and refuses a window without a unit", async () => {
    assert.match(await helm(["template", "dr", CHART, "--namespace", "velero"]), /--share-window=0$/m);
    assert.match(await helm(["template", "dr", CHART, "--namespace", "velero", "--set", "coordinator.shareWindow=30s"]), /--share-window=30s$/m);
    await assert.rejects(helm(["template", "dr", CHART, "--set-string", "coordinator.shareWindow=30"]), /values don't meet the specifications of the schema|does not match pattern/);
  });

  it("refuses two replicas on node-local file:// stores (a failover would lose every record), and allows them on a shared store", async () => {
    await assert.rejects(helm(["template", "dr", CHART, "--set", "coordinator.replicas=2"]), /values don't meet the specifications of the schema|replicas/);
    await assert.rejects(helm(["template", "dr", CHART, "--set", "coordinator.replicas=2", "--set", "coordinator.store=/var/lib/twinsnap"]), /values don't meet the specifications of the schema|replicas/);
    const shared = await helm(["template", "dr", CHART, "--namespace", "velero", "--set", "coordinator.replicas=2", "--set", "coordinator.store=s3://bucket/dr"]);
    assert.match(shared, /^  replicas: 2$/m);
    assert.match(await helm(["template", "dr", CHART, "--namespace", "velero"]), /^  replicas: 1$/m, "one replica by default, with the default file:// store");
    const onSharedDisk = await helm(["template", "dr", CHART, "--namespace", "velero", "--set", "coordinator.replicas=2", "--set", "coordinator.persistence.sharedAcrossReplicas=true"]);
    assert.match(onSharedDisk, /^  replicas: 2$/m, "a hostPath said to be one filesystem for every replica (NFS, one node)");
  });

  it("mounts only the etcd client certificate, key and CA: from a Secret (default) or three chosen host files", async () => {
    const pod = (rendered: string) => (yaml.loadAll(rendered).filter(Boolean) as Record<string, any>[]).find((d) => d.kind === "Deployment")!.spec.template.spec;
    const bySecret = pod(await helm(["template", "dr", CHART, "--namespace", "velero"]));
    const certs = bySecret.volumes.find((v: any) => v.name === "etcd-certs");
    assert.deepEqual(certs.secret, { secretName: "twinsnap-etcd-client", defaultMode: 0o440, items: [{ key: "ca.crt", path: "ca.crt" }, { key: "tls.crt", path: "tls.crt" }, { key: "tls.key", path: "tls.key" }] });
    assert.ok(!JSON.stringify(bySecret.volumes).includes("/etc/kubernetes/pki"), "no host directory");
    const byFiles = pod(
      await helm(["template", "dr", CHART, "--namespace", "velero", "--set", "coordinator.etcd.tls.hostFiles.ca=/etc/kubernetes/pki/etcd/ca.crt", "--set", "coordinator.etcd.tls.hostFiles.cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt", "--set", "coordinator.etcd.tls.hostFiles.key=/etc/kubernetes/pki/etcd/healthcheck-client.key"]),
    );
    const hostPaths = byFiles.volumes.filter((v: any) => v.hostPath).map((v: any) => v.hostPath);
    assert.deepEqual(hostPaths.filter((h: any) => h.path.startsWith("/etc/kubernetes")), [
      { path: "/etc/kubernetes/pki/etcd/ca.crt", type: "File" },
      { path: "/etc/kubernetes/pki/etcd/healthcheck-client.crt", type: "File" },
      { path: "/etc/kubernetes/pki/etcd/healthcheck-client.key", type: "File" },
    ]);
    assert.ok(byFiles.containers[0].args.includes("--etcd-key=/etc/twinsnap/etcd/tls.key"));
    await assert.rejects(helm(["template", "dr", CHART, "--set", "coordinator.etcd.tls.hostPath=/etc/kubernetes/pki/etcd"]), /values don't meet the specifications of the schema|hostPath/, "the old directory mount is refused, not ignored");
  });

  it("serves /metrics on the node's loopback by default (probes go there too); a Service or ServiceMonitor only with another address", async () => {
    const rendered = await helm(["template", "dr", CHART, "--namespace", "velero"]);
    assert.match(rendered, /--metrics-address=127.0.0.1:8080$/m);
    const pod = (yaml.loadAll(rendered).filter(Boolean) as Record<string, any>[]).find((d) => d.kind === "Deployment")!.spec.template.spec;
    assert.equal(pod.containers[0].livenessProbe.httpGet.host, "127.0.0.1");
    assert.equal(pod.containers[0].livenessProbe.httpGet.path, "/healthz");
    assert.doesNotMatch(rendered, /kind: Service$/m);
    const exposed = await helm(["template", "dr", CHART, "--namespace", "velero", "--set", "metrics.bindAddress=0.0.0.0"]);
    assert.match(exposed, /--metrics-address=0.0.0.0:8080$/m);
    assert.match(exposed, /kind: Service$/m);
    await assert.rejects(helm(["template", "dr", CHART, "--set", "metrics.serviceMonitor.enabled=true"]), /values don't meet the specifications of the schema|bindAddress/);
  });
});
