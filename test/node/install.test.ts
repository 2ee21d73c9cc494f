// twinsnap installed the way users install it, on a real node: images built here (scripts/build-images.mjs) and
// imported into the node's containerd, `velero install --plugins` with the twinsnap plugin image, `helm install`
// of charts/twinsnap with the coordinator image, then backups, a restore after a namespace is deleted, a webhook
// restored with its backend, and the same-cluster drill. The node (kubelet, containerd 2, runc, kube-proxy, the
// control plane) and moto run inside the network namespace npm run test:node made (scripts/peers/node-netns.sh).
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chownSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { peer } from "../support/peers.js";
import { run, startNodeCluster, type NodeCluster } from "../support/node/node-cluster.js";
import { CHECKED_LABEL, HOOKS, SHOP, shopObjects, webhookCertificates, webhookObjects } from "../support/node/workloads.js";
import { waitUntil } from "../e2e/support/wait.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const VELERO_NS = "velero";
const BUCKET = "velero";
const PREFIX = "node";
const STORE_DIR_IN_POD = "/var/lib/twinsnap";

interface Pod {
  metadata: { name: string; uid: string; labels?: Record<string, string> };
  spec: { containers: { name: string; image: string }[]; initContainers?: { name: string; image: string }[]; nodeName?: string };
  status: { phase: string; containerStatuses?: { name: string; ready: boolean; restartCount: number; imageID: string; containerID?: string; state: Record<string, unknown> }[]; initContainerStatuses?: { name: string; imageID: string }[] };
}
interface Backup { metadata: { name: string; uid: string; annotations?: Record<string, string> }; status?: { phase?: string } }

describe("installed as users install it, on a real node (kubelet, containerd 2, runc)", function () {
  this.timeout(1_800_000);
  let work: string;
  let node: NodeCluster;
  let images: Record<string, string>;
  let moto: ChildProcess | undefined;
  let motoUrl: string;
  let failed = false;
  const storeDir = () => join(node.dir, "twinsnap-store");

  const kubectl = (...args: string[]) => node.kubectl(args);
  const getJson = async <T>(...args: string[]): Promise<T> => JSON.parse(await node.kubectl([...args, "-o", "json"])) as T;
  const apply = (objects: object[]) => node.kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }));
  const veleroEnv = () => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: join(work, "velero-home"), KUBECONFIG: node.kubeconfigPath });
  const velero = async (...args: string[]) => (await run(peer("VELERO_BIN"), args, { env: veleroEnv(), timeoutMs: 600_000 })).stdout;
  const helm = async (...args: string[]) => (await run(peer("HELM_BIN"), [...args, "--kubeconfig", node.kubeconfigPath], { env: { ...process.env, HOME: join(work, "helm-home") }, timeoutMs: 600_000 })).stdout;
  const twinsnapBin = join(root, "dist", "executable", "twinsnap");
  const twinsnap = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(twinsnapBin, args, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: work }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  const pods = async (ns: string, selector?: string) => (await getJson<{ items: Pod[] }>("get", "pods", "-n", ns, ...(selector ? ["-l", selector] : []))).items;
  const runningReady = (p: Pod) => p.status.phase === "Running" && (p.status.containerStatuses ?? []).every((c) => c.ready);
  /** The test log shows what ran: each Pod's images, as the kubelet resolved them. */
  const logPods = async (ns: string) => {
    for (const p of await pods(ns)) {
      const imgs = [...(p.spec.initContainers ?? []).map((c) => `init ${c.name}=${c.image}`), ...p.spec.containers.map((c) => `${c.name}=${c.image}`)];
      const ids = (p.status.containerStatuses ?? []).map((c) => c.imageID.replace(/^.*@/, "").slice(0, 19));
      console.log(`      pod ${ns}/${p.metadata.name} ${p.status.phase}: ${imgs.join(", ")} [${ids.join(", ")}]`);
    }
  };
  const backups = async () => (await getJson<{ items: Backup[] }>("get", "backups.velero.io", "-n", VELERO_NS)).items;
  const pairRecords = () => {
    // The coordinator's file store, on the node's hostPath: pairs/<uid>.json (read as the operator would, from the host).
    const found: { backup: { name: string; uid: string }; state: string }[] = [];
    const walk = (d: string) => {
      for (const e of existsSync(d) ? readdirSync(d, { withFileTypes: true }) : []) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (e.name.endsWith(".json")) {
          try {
            const r = JSON.parse(readFileSync(join(d, e.name), "utf8"));
            if (r?.backup?.uid && r.state) found.push(r);
          } catch { /* a snapshot's metadata or a run state: not a pair record */ }
        }
      }
    };
    walk(storeDir());
    return found;
  };
  const pairedOnce = (b: Backup) => waitUntil(`exactly one Paired record for backup ${b.metadata.name}`, async () => {
    const mine = pairRecords().filter((r) => r.backup.uid === b.metadata.uid);
    assert.ok(mine.length <= 1, `backup ${b.metadata.name} has ${mine.length} pair records`);
    return mine[0]?.state === "Paired" && mine[0];
  }, { timeoutMs: 180_000, intervalMs: 1000 });

  before(async function () {
    work = mkdtempSync(join(tmpdir(), "twinsnap-node-test-"));
    // 1. Images, daemonless, from what the project ships (dist/executable) and from the peers.
    const imageDir = join(work, "images");
    await run(process.execPath, [join(root, "scripts", "build-images.mjs"), imageDir], { timeoutMs: 600_000 });
    images = JSON.parse(readFileSync(join(imageDir, "images.json"), "utf8"));
    // 2. moto on the node's address: Velero's Pod reaches it there (127.0.0.1 of a Pod is the Pod's own).
    const nodeIp = process.env.NODE_IP ?? "10.77.0.10";
    motoUrl = `http://${nodeIp}:9000`;
    mkdirSync(join(work, "logs"), { recursive: true });
    moto = spawn(peer("MOTO_SERVER_BIN"), ["-H", nodeIp, "-p", "9000"], { stdio: ["ignore", "pipe", "pipe"] });
    const motoLog = createWriteStream(join(work, "logs", "moto.log"));
    moto.stdout!.pipe(motoLog);
    moto.stderr!.pipe(motoLog);
    // 3. The node, with every image imported into its containerd (as a registry pull would put them there).
    node = await startNodeCluster({ pinnedSandbox: images.pause!, images: Object.keys(images).map((n) => join(imageDir, `${n}.oci.tar`)) });
    await waitUntil("moto answers", async () => (await fetch(`${motoUrl}/moto-api/`)).ok, { timeoutMs: 60_000 });
    assert.equal((await fetch(`${motoUrl}/${BUCKET}`, { method: "PUT" })).status, 200);
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") failed = true;
  });

  after(async function () {
    if (failed && node) {
      console.log(`      node test failed: logs kept in ${node.dir}/logs and ${work}/logs`);
      for (const ns of [VELERO_NS, SHOP, HOOKS]) await kubectl("get", "events", "-n", ns, "--sort-by=.lastTimestamp").then((o) => writeFileSync(join(work, "logs", `events-${ns}.txt`), o), () => undefined);
    }
    await node?.stop({ keepDir: failed });
    if (moto && moto.exitCode === null) moto.kill("SIGTERM");
    if (!failed) rmSync(work, { recursive: true, force: true });
  });

  it("runs kubelet 1.36 on containerd 2 and runc, Ready, inside its own network namespace", async () => {
    console.log(await kubectl("get", "nodes", "-o", "wide"));
    const n = await getJson<{ status: { nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string; kubeProxyVersion?: string } } }>("get", "node", node.nodeName);
    console.log(`      kubelet ${n.status.nodeInfo.kubeletVersion}, runtime ${n.status.nodeInfo.containerRuntimeVersion}`);
    assert.match(n.status.nodeInfo.kubeletVersion, /^v1\.36\./);
    assert.match(n.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\/v?2\./);
    // The namespace has no way out: its only non-loopback interface is the node's own veth pair.
    const links = await run("ip", ["-o", "link"]);
    assert.ok(!/\beth0\b/.test(links.stdout), `the node namespace must not have the host's interfaces:\n${links.stdout}`);
  });

  it("`velero install --plugins` runs Velero with the aws plugin and the twinsnap plugin image, on its service account only", async () => {
    const credentials = join(work, "credentials-velero");
    writeFileSync(credentials, "[default]\naws_access_key_id = twinsnap\naws_secret_access_key = twinsnap-secret\n");
    await velero(
      "install", "--provider", "aws",
      "--image", images.velero!,
      "--plugins", `${images["velero-plugin-for-aws"]},${images["twinsnap-velero-plugin"]}`,
      "--bucket", BUCKET, "--prefix", PREFIX, "--secret-file", credentials,
      "--backup-location-config", `region=us-east-1,s3ForcePathStyle=true,s3Url=${motoUrl}`,
      "--use-volume-snapshots=false",
      "--velero-pod-cpu-request", "100m", "--velero-pod-mem-request", "128Mi",
      "--wait",
    );
    const veleroPod = await waitUntil("Velero's Pod Running and ready", async () => (await pods(VELERO_NS, "deploy=velero")).find(runningReady), { timeoutMs: 300_000, intervalMs: 2000 });
    await logPods(VELERO_NS);
    assert.deepEqual(veleroPod.spec.initContainers?.map((c) => c.image), [images["velero-plugin-for-aws"], images["twinsnap-velero-plugin"]]);

    // twinsnap in Velero's /plugins (the Pod's emptyDir, seen from the node), executable, its libraries beside it.
    const pluginsDir = join(node.kubeletDir, "pods", veleroPod.metadata.uid, "volumes", "kubernetes.io~empty-dir", "plugins");
    const listing = readdirSync(pluginsDir).sort();
    console.log(`      ${VELERO_NS}/${veleroPod.metadata.name}:/plugins: ${listing.join(" ")}`);
    assert.ok(listing.includes("twinsnap") && listing.includes("velero-plugin-for-aws") && listing.includes("twinsnap-libs"), listing.join(" "));

    // Velero ran the plugin: `velero plugin get` lists both twinsnap actions. At backup one action does both
    // (strip, and restore-order's record of what each item needs, in one round trip); at restore each has its own.
    const plugins = await waitUntil("velero plugin get lists twinsnap's actions", async () => {
      const out = await velero("plugin", "get");
      return out.includes("twinsnap.dev/restore-order") && out.includes("twinsnap.dev/strip-runtime-fields") && out;
    }, { timeoutMs: 120_000, intervalMs: 2000 });
    console.log(plugins.split("\n").filter((l) => /twinsnap|aws|NAME/.test(l)).map((l) => `      ${l}`).join("\n"));
    for (const kind of ["BackupItemAction", "RestoreItemAction"]) assert.match(plugins, new RegExp(`twinsnap\\.dev/strip-runtime-fields\\s+${kind}`));
    assert.match(plugins, /twinsnap\.dev\/restore-order\s+RestoreItemAction/);

    // No KUBECONFIG anywhere: not in the Deployment, not in the environment of the twinsnap process Velero runs.
    const deploy = await getJson<{ spec: { template: { spec: { containers: { env?: { name: string }[] }[] } } } }>("get", "deployment", "velero", "-n", VELERO_NS);
    assert.ok(!deploy.spec.template.spec.containers.some((c) => c.env?.some((e) => e.name === "KUBECONFIG")));
    // Velero's server in its container (its executable is /velero there) and any twinsnap plugin process it runs:
    // plugins inherit Velero's environment, so neither may hold a KUBECONFIG, and both have the in-cluster one.
    const inVeleroPod = readdirSync("/proc").filter((p) => /^\d+$/.test(p)).flatMap((pid) => {
      try {
        const exe = readlinkSync(`/proc/${pid}/exe`);
        return exe === "/velero" || exe === "/plugins/twinsnap" ? [{ pid, exe }] : [];
      } catch { return []; }
    });
    assert.ok(inVeleroPod.some((p) => p.exe === "/velero"), "Velero's server process is found on the node");
    for (const { pid, exe } of inVeleroPod) {
      const env = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      assert.ok(!env.some((e) => e.startsWith("KUBECONFIG=")), `${exe} (pid ${pid}) has KUBECONFIG`);
      assert.ok(env.some((e) => e.startsWith("KUBERNETES_SERVICE_HOST=")), `${exe} (pid ${pid}) has no in-cluster environment`);
    }
    console.log(`      no KUBECONFIG in: ${inVeleroPod.map((p) => `${p.exe} (pid ${p.pid})`).join(", ")}`);
    await waitUntil("the BackupStorageLocation on moto is Available", async () => {
      const bsl = await getJson<{ status?: { phase?: string } }>("get", "backupstoragelocations.velero.io", "default", "-n", VELERO_NS);
      return bsl.status?.phase === "Available";
    }, { timeoutMs: 180_000, intervalMs: 2000 });
  });

  it("`helm install charts/twinsnap`: two coordinator replicas on the coordinator image, etcd's kubeadm certificates, probes passing, one leader", async () => {
    // The file store's hostPath, made for uid 65532 as the chart's values say an operator does.
    mkdirSync(storeDir(), { recursive: true, mode: 0o700 });
    chownSync(storeDir(), 65532, 65532);
    const [repository, tag] = [images.twinsnap!.slice(0, images.twinsnap!.lastIndexOf(":")), images.twinsnap!.slice(images.twinsnap!.lastIndexOf(":") + 1)];
    await helm(
      "install", "twinsnap", join(root, "charts", "twinsnap"), "--namespace", VELERO_NS,
      "--set", `image.repository=${repository}`, "--set", `image.tag=${tag}`,
      "--set", `coordinator.store=file://${STORE_DIR_IN_POD}`, "--set", `coordinator.persistence.hostPath=${storeDir()}`,
      "--set", "coordinator.replicas=2",
      "--set", `coordinator.etcd.tls.hostFiles.ca=${node.pki.etcd.dir}/ca.crt`,
      "--set", `coordinator.etcd.tls.hostFiles.cert=${node.pki.etcd.dir}/healthcheck-client.crt`,
      "--set", `coordinator.etcd.tls.hostFiles.key=${node.pki.etcd.dir}/healthcheck-client.key`,
      // One node: both replicas' hostPath is the same disk, so a file:// store is shared (the chart refuses two
      // replicas on node-local disks otherwise).
      "--set", "coordinator.persistence.sharedAcrossReplicas=true",
      // Two replicas on one node: on the host network their metrics ports would collide, so Pod networking, and
      // etcd on the node's address (kubeadm's etcd listens there too).
      // Off the host network the kubelet probes the Pod's address, so metrics listen on every Pod interface.
      "--set", "coordinator.hostNetwork=false", "--set", "metrics.bindAddress=0.0.0.0", "--set", `coordinator.etcd.endpoints=https://${node.nodeIp}:2379`,
      "--wait", "--timeout", "5m",
    );
    const coordinators = await waitUntil("two coordinator Pods Running and ready (readiness probe)", async () => {
      const ps = (await pods(VELERO_NS, "app.kubernetes.io/name=twinsnap")).filter(runningReady);
      return ps.length === 2 && ps;
    }, { timeoutMs: 300_000, intervalMs: 2000 });
    await logPods(VELERO_NS);
    for (const p of coordinators) assert.equal(p.spec.containers[0]!.image, images.twinsnap);
    const holder = await waitUntil("a leader in Lease twinsnap-coordinator", async () => (await getJson<{ spec: { holderIdentity?: string } }>("get", "lease", "twinsnap-coordinator", "-n", VELERO_NS)).spec.holderIdentity);
    console.log(`      leader: ${holder}`);
    assert.ok(coordinators.some((p) => holder.startsWith(`${p.metadata.name}_`)), `the leader ${holder} is one of the two Pods`);
  });

  it("the shop is installed with its volume, and the webhook backend serves: denied and stamped objects", async () => {
    const volumeDir = join(node.dir, "volumes", "shop-data");
    await apply(shopObjects({ busybox: images.busybox! }, volumeDir));
    const certs = webhookCertificates(join(work, "webhook-certs"));
    await apply(webhookObjects(images["webhook-backend"]!, certs));
    await waitUntil("shop and webhook backend Pods ready", async () => (await pods(SHOP)).some(runningReady) && (await pods(HOOKS)).some(runningReady), { timeoutMs: 300_000, intervalMs: 2000 });
    await logPods(SHOP);
    await logPods(HOOKS);
    assert.match(readFileSync(join(volumeDir, "first"), "utf8"), /^first start/);
    await waitUntil("a checked ConfigMap admitted once the backend serves", async () => {
      await apply([{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "checked-1", namespace: SHOP, labels: { [CHECKED_LABEL]: "yes" } }, data: { a: "1" } }]);
      return true;
    }, { timeoutMs: 120_000, intervalMs: 2000 });
    const cm = await getJson<{ metadata: { annotations?: Record<string, string> } }>("get", "configmap", "checked-1", "-n", SHOP);
    assert.ok(cm.metadata.annotations?.["twinsnap.test/admitted-by"]?.startsWith("webhook-backend-"), JSON.stringify(cm.metadata));
    await assert.rejects(apply([{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "denied", namespace: SHOP, labels: { [CHECKED_LABEL]: "yes", "twinsnap.test/deny": "true" } } }]), /denied by the twinsnap test webhook/);
  });

  let firstBackup: Backup;
  it("`velero backup create` and a schedule are each paired by the coordinator Pod; killing the leader's Pod loses and doubles nothing", async () => {
    await velero("backup", "create", "node-1", "--include-namespaces", `${SHOP},${HOOKS}`, "--include-cluster-resources=true", "--snapshot-volumes=false", "--wait");
    firstBackup = (await backups()).find((b) => b.metadata.name === "node-1")!;
    assert.equal(firstBackup.status?.phase, "Completed");
    const pair = await pairedOnce(firstBackup);
    console.log(`      node-1 paired: ${JSON.stringify(pair).slice(0, 200)}`);

    // Kill the leader's Pod: the other replica takes the Lease; the Deployment makes a new standby.
    const lease = await getJson<{ spec: { holderIdentity: string } }>("get", "lease", "twinsnap-coordinator", "-n", VELERO_NS);
    const leaderPod = lease.spec.holderIdentity.split("_")[0]!;
    await kubectl("delete", "pod", leaderPod, "-n", VELERO_NS, "--grace-period=0", "--force", "--wait=false");
    const newHolder = await waitUntil("another replica holds the Lease", async () => {
      const h = (await getJson<{ spec: { holderIdentity?: string } }>("get", "lease", "twinsnap-coordinator", "-n", VELERO_NS)).spec.holderIdentity;
      // A released Lease has an empty holder: that is nobody taking over yet.
      return typeof h === "string" && h !== "" && !h.startsWith(`${leaderPod}_`) && h;
    }, { timeoutMs: 120_000, intervalMs: 1000 });
    console.log(`      leader ${leaderPod} killed; new leader: ${newHolder}`);

    await velero("schedule", "create", "node-every-minute", "--schedule", "* * * * *", "--include-namespaces", SHOP, "--snapshot-volumes=false");
    const scheduled = await waitUntil("a Completed backup from schedule node-every-minute", async () => (await backups()).find((b) => b.metadata.name.startsWith("node-every-minute-") && b.status?.phase === "Completed"), { timeoutMs: 180_000, intervalMs: 2000 });
    await pairedOnce(scheduled);
    await velero("schedule", "pause", "node-every-minute");
    await velero("backup", "create", "node-2", "--include-namespaces", SHOP, "--snapshot-volumes=false", "--wait");
    const second = (await backups()).find((b) => b.metadata.name === "node-2")!;
    await pairedOnce(second);
    // Every finished backup has exactly one pair; no record names a backup twice.
    const records = pairRecords();
    for (const b of (await backups()).filter((x) => x.status?.phase === "Completed")) {
      assert.equal(records.filter((r) => r.backup.uid === b.metadata.uid).length, 1, `backup ${b.metadata.name}`);
    }
  });

  it("`velero restore create` after the namespaces are deleted: Pods Running again, the volume's data back, the webhook restored with its backend", async () => {
    const volumeDir = join(node.dir, "volumes", "shop-data");
    const before = readFileSync(join(volumeDir, "first"), "utf8");
    await kubectl("delete", "namespace", SHOP, HOOKS, "--wait=true", "--timeout=180s");
    await kubectl("delete", "validatingwebhookconfiguration", "twinsnap-test-deny");
    await kubectl("delete", "mutatingwebhookconfiguration", "twinsnap-test-stamp");
    await kubectl("delete", "pv", "shop-data");
    await velero("restore", "create", "node-1-restore", "--from-backup", "node-1", "--wait");
    const restore = await getJson<{ status: { phase: string; errors?: number; warnings?: number } }>("get", "restores.velero.io", "node-1-restore", "-n", VELERO_NS);
    console.log(`      restore node-1-restore: ${restore.status.phase}, ${restore.status.errors ?? 0} errors, ${restore.status.warnings ?? 0} warnings`);
    if (restore.status.phase !== "Completed") console.log(await velero("restore", "describe", "node-1-restore", "--details"));
    assert.equal(restore.status.phase, "Completed");
    const shopPod = await waitUntil("the shop's Pod Running again on its claim", async () => (await pods(SHOP)).find(runningReady), { timeoutMs: 300_000, intervalMs: 2000 });
    await waitUntil("the webhook backend ready again", async () => (await pods(HOOKS)).some(runningReady), { timeoutMs: 300_000, intervalMs: 2000 });
    await logPods(SHOP);
    await logPods(HOOKS);
    const pvc = await getJson<{ status: { phase: string } }>("get", "pvc", "shop-data", "-n", SHOP);
    assert.equal(pvc.status.phase, "Bound");
    assert.equal((await kubectl("exec", "-n", SHOP, shopPod.metadata.name, "--", "cat", "/data/first")), before);
    assert.ok(readFileSync(join(volumeDir, "starts"), "utf8").split("\n").filter(Boolean).length >= 2, "the restored Pod started on the same data");
    // The webhook configurations came back and call the restored backend.
    await waitUntil("a checked ConfigMap admitted and stamped after the backend serves again", async () => {
      await apply([{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "checked-after-restore", namespace: SHOP, labels: { [CHECKED_LABEL]: "yes" } } }]);
      return true;
    }, { timeoutMs: 120_000, intervalMs: 2000 });
    const cm = await getJson<{ metadata: { annotations?: Record<string, string> } }>("get", "configmap", "checked-after-restore", "-n", SHOP);
    assert.ok(cm.metadata.annotations?.["twinsnap.test/admitted-by"]?.startsWith("webhook-backend-"));
    await assert.rejects(apply([{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "denied-after", namespace: SHOP, labels: { [CHECKED_LABEL]: "yes", "twinsnap.test/deny": "true" } } }]), /denied by the twinsnap test webhook/);
  });

  it("the same-cluster drill: `twinsnap restore run` from the node's host side; running Pods survive, kubelet and controllers re-list", async () => {
    await velero("backup", "create", "node-drill", "--include-namespaces", SHOP, "--snapshot-volumes=false", "--wait");
    const drill = (await backups()).find((b) => b.metadata.name === "node-drill")!;
    const pair = (await pairedOnce(drill)) as unknown as { snapshot: { revision: string } };
    const podsBefore = await pods(SHOP);
    const backendBefore = await pods(HOOKS);
    // The incident: objects changed and deleted after the backup.
    await kubectl("delete", "configmap", "settings-0", "-n", SHOP);
    await kubectl("patch", "configmap", "settings-1", "-n", SHOP, "--type=merge", "-p", '{"data":{"index":"changed"}}');

    const store = `file://${storeDir()}`;
    const restoredDir = join(node.dir, "etcd-restored");
    const common = ["restore", "run", "--backup", "node-drill", "--store", store, "--kubeconfig", node.kubeconfigPath,
      "--name", node.etcdMemberName, "--initial-advertise-peer-urls", node.etcdPeerUrl, "--data-dir", restoredDir, "--etcdutl", peer("ETCDUTL_BIN"),
      // The operator's consent: this replaces the cluster's etcd (without it the run stops before anything).
      "--confirm-same-cluster"];
    const step = async (args: string[], expect: number) => {
      const r = await twinsnap(args);
      console.log(r.stdout.split("\n").map((l) => `      | ${l}`).join("\n"));
      assert.equal(r.code, expect, `twinsnap ${args.join(" ")}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
      return r.stdout;
    };
    const continueOf = (out: string) => /--continue (\S+)/.exec(out)?.[1];
    let out = await step(common, 3);
    // [you] stop the API server and etcd (the kubelet and the Pods keep running).
    let next = continueOf(out);
    assert.ok(next, out);
    await node.stopControlPlane();
    out = await step([...common, "--continue", next!], 3);
    next = continueOf(out);
    assert.ok(next, out);
    // [you] etcd on the restored data dir, then the API server.
    await node.startControlPlane(restoredDir);
    for (let i = 0; i < 5; i++) {
      const r = await twinsnap([...common, "--continue", next!]);
      console.log(r.stdout.split("\n").map((l) => `      | ${l}`).join("\n"));
      if (r.code === 0) break;
      assert.equal(r.code, 3, `${r.stdout}\n${r.stderr}`);
      next = continueOf(r.stdout);
    }
    // etcd's revision moved past the snapshot's (restored with a bump): watchers' resource versions never go back.
    const status = JSON.parse((await run(peer("ETCDCTL_BIN"), [`--endpoints=${node.etcdEndpoint}`, `--cacert=${node.pki.etcd.ca}`, `--cert=${node.pki.etcd.healthcheckCert}`, `--key=${node.pki.etcd.healthcheckKey}`, "endpoint", "status", "-w", "json"])).stdout) as { Status: { header: { revision: number } } }[];
    console.log(`      etcd revision after the drill: ${status[0]!.Status.header.revision} (snapshot: ${pair.snapshot.revision})`);
    assert.ok(status[0]!.Status.header.revision > Number(pair.snapshot.revision));
    // The cluster is the backed-up one again: the deleted ConfigMap is back, the changed one as it was.
    await waitUntil("settings-0 back", async () => (await kubectl("get", "configmap", "settings-0", "-n", SHOP, "-o", "name")).trim() === "configmap/settings-0", { timeoutMs: 120_000 });
    const s1 = await getJson<{ data: { index: string } }>("get", "configmap", "settings-1", "-n", SHOP);
    assert.equal(s1.data.index, "1");
    // Running Pods survived: same Pod uids, no restarts; the node is Ready again (kubelet re-listed).
    await waitUntil("the node Ready after the drill", async () => {
      const n = await getJson<{ status: { conditions: { type: string; status: string }[] } }>("get", "node", node.nodeName);
      return n.status.conditions.some((c) => c.type === "Ready" && c.status === "True");
    }, { timeoutMs: 180_000, intervalMs: 2000 });
    const podsAfter = await pods(SHOP);
    for (const p of podsBefore) {
      const same = podsAfter.find((q) => q.metadata.uid === p.metadata.uid);
      assert.ok(same && runningReady(same), `pod ${p.metadata.name} survived the drill`);
      assert.equal(same!.status.containerStatuses![0]!.restartCount, p.status.containerStatuses![0]!.restartCount);
    }
    assert.ok((await pods(HOOKS)).some((q) => backendBefore.some((p) => p.metadata.uid === q.metadata.uid) && runningReady(q)));
    // Controllers re-listed: a Deployment scaled after the restore is acted on.
    await kubectl("scale", "deployment", "webhook-backend", "-n", HOOKS, "--replicas=2");
    await waitUntil("two webhook backends after the drill", async () => (await pods(HOOKS)).filter(runningReady).length === 2, { timeoutMs: 180_000, intervalMs: 2000 });
    await logPods(SHOP);
  });
});
