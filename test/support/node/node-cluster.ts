// A real single-node Kubernetes cluster for tests, laid out like a kubeadm control-plane node: etcd (TLS, client
// certificates), kube-apiserver (Node and RBAC authorization), kube-controller-manager, kube-scheduler, containerd 2
// with runc and the CNI bridge plugin, kubelet and kube-proxy (iptables), each a child process of the test.
//
// It must run inside the network namespace scripts/peers/node-netns.sh makes (npm run test:node does): the node's
// address is on node0 there, Pods get 10.244.0.0/24 on the bridge cni0, ClusterIPs (10.96.0.0/16) exist only in
// kube-proxy's iptables rules of that namespace. Nothing can route out of it. startNodeCluster refuses to run
// anywhere else, rather than put a kubelet and iptables rules on the host's network.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { peer } from "../peers.js";
import { makePki, type Pki } from "./pki.js";

export const POD_CIDR = "10.244.0.0/24";
export const SERVICE_CIDR = "10.96.0.0/16";
const NODE_NAME = "twinsnap-node";
const ETCD_CLIENT = "https://127.0.0.1:2379";
const ETCD_PEER = "http://127.0.0.1:2380";

export class NotInNodeNamespaceError extends Error {
  override readonly name = "NotInNodeNamespaceError";
  constructor(nodeIp: string) {
    super(`the node tests run only inside their own network namespace (address ${nodeIp} on node0): run them with npm run test:node, which starts them through scripts/peers/node-netns.sh`);
  }
}

export interface CommandResult { stdout: string; stderr: string }

/** Runs a program to completion; rejects with its output when it exits non-zero. */
export function run(bin: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(bin, args, { env: opts.env ?? process.env, maxBuffer: 64 << 20, timeout: opts.timeoutMs ?? 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${bin.split("/").at(-1)} ${args.join(" ")} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

export interface NodeCluster {
  dir: string;
  nodeName: string;
  nodeIp: string;
  /** The admin's kubeconfig (kubeadm's admin.conf): a client certificate-free token user in system:masters. */
  kubeconfigPath: string;
  pki: Pki;
  etcdEndpoint: string;
  etcdPeerUrl: string;
  etcdDataDir: string;
  etcdMemberName: string;
  /** kubelet's --root-dir: Pods' volumes are under pods/<uid>/volumes. */
  kubeletDir: string;
  kubectl(args: readonly string[], input?: string): Promise<string>;
  /** `ctr -n k8s.io images import` of OCI archives (scripts/build-images.mjs output). */
  importImages(files: readonly string[]): Promise<void>;
  /** Stops the API server, the controllers, the scheduler and etcd (the kubelet and the Pods keep running). */
  stopControlPlane(): Promise<void>;
  /** etcd on dataDir (same member, same ports), then the API server, controllers and scheduler. */
  startControlPlane(dataDir?: string): Promise<void>;
  stop(opts?: { keepDir?: boolean }): Promise<void>;
}

function nodeAddress(): string {
  const ip = process.env.NODE_IP ?? "10.77.0.10";
  const here = Object.values(networkInterfaces()).flat().some((a) => a?.address === ip);
  if (!here || !process.env.NODE_NETNS) throw new NotInNodeNamespaceError(ip);
  return ip;
}

function startProcess(dir: string, name: string, bin: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess {
  const log = createWriteStream(join(dir, "logs", `${name}.log`), { flags: "a" });
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  return child;
}

async function stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}

export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, hint = "", child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`${what}: the process exited (${child.exitCode ?? child.signalCode}); ${hint}`);
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what}: not after ${timeoutMs / 1000} s; ${hint}${last ? ` (last error: ${(last as Error).message.slice(0, 500)})` : ""}`);
}

function kubeconfig(server: string, ca: string, user: string, token: string): string {
  return [
    "apiVersion: v1", "kind: Config",
    "clusters:", `- name: ${NODE_NAME}`, "  cluster:", `    server: ${server}`, `    certificate-authority: ${ca}`,
    "users:", `- name: ${user}`, "  user:", `    token: ${token}`,
    "contexts:", `- name: ${user}@${NODE_NAME}`, "  context:", `    cluster: ${NODE_NAME}`, `    user: ${user}`,
    `current-context: ${user}@${NODE_NAME}`, "",
  ].join("\n");
}

export async function startNodeCluster(opts: { images?: readonly string[]; pinnedSandbox: string }): Promise<NodeCluster> {
  const nodeIp = nodeAddress();
  const dir = mkdtempSync(join(tmpdir(), "twinsnap-node-"));
  for (const d of ["logs", "kubelet", "containerd", "cni/net.d", "manifests"]) mkdirSync(join(dir, d), { recursive: true });
  const pki = makePki(dir, nodeIp, NODE_NAME);
  const server = `https://${nodeIp}:6443`;

  // Identities as kubeadm gives them (users and groups the built-in RBAC bindings name), as bearer tokens.
  const tokens = {
    admin: { token: "twinsnap-node-admin", user: "kubernetes-admin", groups: "system:masters" },
    kubelet: { token: "twinsnap-node-kubelet", user: `system:node:${NODE_NAME}`, groups: "system:nodes" },
    controllerManager: { token: "twinsnap-node-kcm", user: "system:kube-controller-manager", groups: "" },
    scheduler: { token: "twinsnap-node-scheduler", user: "system:kube-scheduler", groups: "" },
    proxy: { token: "twinsnap-node-proxy", user: "system:kube-proxy", groups: "" },
  };
  writeFileSync(join(dir, "tokens.csv"), Object.values(tokens).map((t) => `${t.token},${t.user},${t.user},"${t.groups}"`).join("\n") + "\n");
  const kc = (name: keyof typeof tokens, at = server) => {
    const path = join(dir, `${name}.conf`);
    writeFileSync(path, kubeconfig(at, pki.ca, tokens[name].user, tokens[name].token));
    return path;
  };
  const adminConf = kc("admin");
  const kubeletConf = kc("kubelet");
  const kcmConf = kc("controllerManager");
  const schedulerConf = kc("scheduler");
  const proxyConf = kc("proxy");

  const etcdDataDir = join(dir, "etcd");
  let etcd: ChildProcess | undefined;
  let apiserver: ChildProcess | undefined;
  let kcm: ChildProcess | undefined;
  let scheduler: ChildProcess | undefined;
  let containerd: ChildProcess | undefined;
  let kubelet: ChildProcess | undefined;
  let kubeProxy: ChildProcess | undefined;
  let currentDataDir = etcdDataDir;

  const kubectl = async (args: readonly string[], input?: string) => (await run(peer("KUBECTL_BIN"), ["--kubeconfig", adminConf, ...args], input === undefined ? {} : { input })).stdout;
  const log = (name: string) => join(dir, "logs", `${name}.log`);

  const startEtcd = async (dataDir: string) => {
    etcd = startProcess(dir, "etcd", peer("ETCD_BIN"), [
      `--name=${NODE_NAME}`, `--data-dir=${dataDir}`,
      // On loopback and the node's address, as kubeadm's etcd listens (Pods reach it on the latter).
      `--listen-client-urls=${ETCD_CLIENT},https://${nodeIp}:2379`, `--advertise-client-urls=${ETCD_CLIENT}`,
      `--listen-peer-urls=${ETCD_PEER}`, `--initial-advertise-peer-urls=${ETCD_PEER}`, `--initial-cluster=${NODE_NAME}=${ETCD_PEER}`,
      `--cert-file=${pki.etcd.serverCert}`, `--key-file=${pki.etcd.serverKey}`, "--client-cert-auth=true", `--trusted-ca-file=${pki.etcd.ca}`,
      "--log-level=warn",
    ]);
    await waitUntil("etcd", async () => {
      await run(peer("ETCDCTL_BIN"), [`--endpoints=${ETCD_CLIENT}`, `--cacert=${pki.etcd.ca}`, `--cert=${pki.etcd.healthcheckCert}`, `--key=${pki.etcd.healthcheckKey}`, "endpoint", "health"], { timeoutMs: 5000 });
      return true;
    }, 60_000, `see ${log("etcd")}`, etcd);
  };
  const startApiserver = async () => {
    apiserver = startProcess(dir, "kube-apiserver", peer("KUBE_APISERVER_BIN"), [
      `--advertise-address=${nodeIp}`, "--bind-address=0.0.0.0", "--secure-port=6443",
      `--etcd-servers=${ETCD_CLIENT}`, `--etcd-cafile=${pki.etcd.ca}`, `--etcd-certfile=${pki.etcd.apiserverClientCert}`, `--etcd-keyfile=${pki.etcd.apiserverClientKey}`,
      `--tls-cert-file=${pki.apiserverCert}`, `--tls-private-key-file=${pki.apiserverKey}`, `--client-ca-file=${pki.ca}`,
      `--kubelet-client-certificate=${pki.kubeletClientCert}`, `--kubelet-client-key=${pki.kubeletClientKey}`, "--kubelet-preferred-address-types=InternalIP",
      `--token-auth-file=${join(dir, "tokens.csv")}`,
      "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction", "--allow-privileged=true",
      `--service-account-key-file=${pki.saPub}`, `--service-account-signing-key-file=${pki.saKey}`, "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      // Webhooks and aggregated APIs are called at their endpoints, not through a ClusterIP (the network rule).
      "--enable-aggregator-routing=true",
    ]);
    await waitUntil("kube-apiserver /readyz", async () => (await kubectl(["get", "--raw", "/readyz"])).trim() === "ok", 120_000, `see ${log("kube-apiserver")}`, apiserver);
  };
  const startControllers = () => {
    kcm = startProcess(dir, "kube-controller-manager", peer("KUBE_CONTROLLER_MANAGER_BIN"), [
      `--kubeconfig=${kcmConf}`, `--authentication-kubeconfig=${kcmConf}`, `--authorization-kubeconfig=${kcmConf}`,
      "--bind-address=127.0.0.1", "--secure-port=10257", "--leader-elect=false", "--use-service-account-credentials=true",
      `--service-account-private-key-file=${pki.saKey}`, `--root-ca-file=${pki.ca}`, `--cluster-signing-cert-file=${pki.ca}`, `--cluster-signing-key-file=${join(pki.dir, "ca.key")}`,
      "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller", `--cert-dir=${join(dir, "kcm-certs")}`,
    ]);
    scheduler = startProcess(dir, "kube-scheduler", peer("KUBE_SCHEDULER_BIN"), [
      `--kubeconfig=${schedulerConf}`, `--authentication-kubeconfig=${schedulerConf}`, `--authorization-kubeconfig=${schedulerConf}`,
      "--bind-address=127.0.0.1", "--secure-port=10259", "--leader-elect=false", `--cert-dir=${join(dir, "scheduler-certs")}`,
    ]);
  };

  // containerd 2: CRI with runc (Debian's) and the CNI bridge; the sandbox image pinned to one built here.
  const containerdDir = join(dir, "containerd");
  const containerdSock = join(containerdDir, "containerd.sock");
  writeFileSync(join(containerdDir, "config.toml"), `version = 3
root = '${join(containerdDir, "root")}'
state = '${join(containerdDir, "state")}'
[grpc]
  address = '${containerdSock}'
[plugins.'io.containerd.cri.v1.runtime']
  # This machine refuses to lower oom_score_adj below 0: without this, runc fails every Pod sandbox.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/usr/lib/cni', '/opt/cni/bin']
    conf_dir = '${join(dir, "cni/net.d")}'
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = 'io.containerd.runc.v2'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = '${["/usr/sbin/runc", "/usr/bin/runc"].find((p) => existsSync(p)) ?? "runc"}'
      SystemdCgroup = false
[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '${opts.pinnedSandbox}'
`);
  writeFileSync(join(dir, "cni/net.d/10-twinsnap.conflist"), JSON.stringify({
    cniVersion: "1.0.0", name: "twinsnap-node",
    plugins: [
      { type: "bridge", bridge: "cni0", isGateway: true, ipMasq: false, hairpinMode: true, ipam: { type: "host-local", ranges: [[{ subnet: POD_CIDR }]], routes: [{ dst: "0.0.0.0/0" }] } },
      { type: "portmap", capabilities: { portMappings: true } },
    ],
  }, null, 2));
  const containerdEnv = { ...process.env, PATH: `${dirname(peer("CONTAINERD_SHIM_BIN"))}:/usr/sbin:/usr/bin:/sbin:/bin` };
  const ctr = (args: readonly string[]) => run(peer("CTR_BIN"), ["--address", containerdSock, "-n", "k8s.io", ...args], { env: containerdEnv, timeoutMs: 600_000 });

  writeFileSync(join(dir, "resolv.conf"), `nameserver ${nodeIp}\n`);
  const kubeletConfig = join(dir, "kubelet-config.yaml");
  writeFileSync(kubeletConfig, JSON.stringify({
    apiVersion: "kubelet.config.k8s.io/v1beta1", kind: "KubeletConfiguration",
    // This machine has cgroup v1 (kubelet >= 1.35 refuses it unless told) and no systemd.
    failCgroupV1: false, cgroupDriver: "cgroupfs", failSwapOn: false,
    containerRuntimeEndpoint: `unix://${containerdSock}`,
    address: nodeIp, port: 10250, readOnlyPort: 0, healthzBindAddress: "127.0.0.1", healthzPort: 10248,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: pki.ca } },
    authorization: { mode: "Webhook" },
    staticPodPath: join(dir, "manifests"),
    resolvConf: join(dir, "resolv.conf"), clusterDomain: "cluster.local",
    // A shared test machine: evict nothing for disk or memory pressure during a test.
    evictionHard: { "memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%" },
    imageGCHighThresholdPercent: 100, imageGCLowThresholdPercent: 99,
    serializeImagePulls: false, syncFrequency: "10s", nodeStatusUpdateFrequency: "5s",
  }, null, 2));

  const stopControlPlane = async () => {
    await stopProcess(scheduler); scheduler = undefined;
    await stopProcess(kcm); kcm = undefined;
    await stopProcess(apiserver); apiserver = undefined;
    await stopProcess(etcd); etcd = undefined;
  };
  const startControlPlane = async (dataDir?: string) => {
    if (dataDir) currentDataDir = dataDir;
    await startEtcd(currentDataDir);
    await startApiserver();
    startControllers();
  };

  const stop = async (stopOpts: { keepDir?: boolean } = {}) => {
    // Pods first, while containerd still runs: runc's containers are no children of ours.
    if (containerd && containerd.exitCode === null) {
      await stopProcess(kubelet); kubelet = undefined;
      try {
        const pods = (await run(peer("CTR_BIN"), ["--address", containerdSock, "-n", "k8s.io", "tasks", "ls", "-q"], { env: containerdEnv })).stdout.split("\n").filter(Boolean);
        for (const id of pods) await ctr(["tasks", "kill", "-s", "SIGKILL", id]).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 1000));
        for (const id of pods) await ctr(["tasks", "delete", "-f", id]).catch(() => undefined);
      } catch { /* containerd gone: the namespace's cleanup kills what is left */ }
    }
    await stopProcess(kubeProxy);
    await stopProcess(kubelet);
    await stopProcess(containerd);
    await stopControlPlane();
    // The kubelet's cgroups (cgroupfs driver): empty now, removed deepest first.
    for (const hierarchy of existsSync("/sys/fs/cgroup") ? readdirSync("/sys/fs/cgroup") : []) {
      const removeTree = (p: string) => {
        if (!existsSync(p)) return;
        for (const e of readdirSync(p, { withFileTypes: true })) if (e.isDirectory()) removeTree(join(p, e.name));
        try { rmdirSync(p); } catch { /* still in use, or not ours to remove */ }
      };
      removeTree(join("/sys/fs/cgroup", hierarchy, "kubepods"));
      removeTree(join("/sys/fs/cgroup", hierarchy, "kubepods.slice"));
    }
    if (!stopOpts.keepDir) {
      // kubelet and containerd mounted things under dir (in this test's mount namespace): unmount them first.
      const mounts = readFileSync("/proc/self/mounts", "utf8").split("\n").map((l) => l.split(" ")[1] ?? "").filter((m) => m.startsWith(dir + "/")).sort().reverse();
      for (const m of mounts) await run("umount", ["-l", m.replace(/\\040/g, " ")]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  };

  try {
    await startControlPlane(etcdDataDir);
    containerd = startProcess(dir, "containerd", peer("CONTAINERD_BIN"), ["--config", join(containerdDir, "config.toml")], containerdEnv);
    await waitUntil("containerd", async () => { await run(peer("CTR_BIN"), ["--address", containerdSock, "version"], { env: containerdEnv, timeoutMs: 5000 }); return true; }, 60_000, `see ${log("containerd")}`, containerd);
    for (const file of opts.images ?? []) await ctr(["images", "import", file]);
    kubelet = startProcess(dir, "kubelet", peer("KUBELET_BIN"), [
      `--config=${kubeletConfig}`, `--kubeconfig=${kubeletConf}`, `--root-dir=${join(dir, "kubelet")}`, `--cert-dir=${join(dir, "kubelet-pki")}`,
      `--node-ip=${nodeIp}`, `--hostname-override=${NODE_NAME}`, "--v=1",
    ]);
    writeFileSync(join(dir, "kube-proxy.yaml"), JSON.stringify({
      apiVersion: "kubeproxy.config.k8s.io/v1alpha1", kind: "KubeProxyConfiguration",
      clientConnection: { kubeconfig: proxyConf }, mode: "iptables", clusterCIDR: POD_CIDR, hostnameOverride: NODE_NAME,
      bindAddress: nodeIp, healthzBindAddress: "127.0.0.1:10256", metricsBindAddress: "127.0.0.1:10249",
      // Leave the (machine-wide) conntrack table size alone.
      conntrack: { maxPerCore: 0, min: 0 },
    }));
    kubeProxy = startProcess(dir, "kube-proxy", peer("KUBE_PROXY_BIN"), [`--config=${join(dir, "kube-proxy.yaml")}`]);
    await waitUntil("node Ready", async () => {
      const node = JSON.parse(await kubectl(["get", "node", NODE_NAME, "-o", "json"]));
      return node.status.conditions.some((c: { type: string; status: string }) => c.type === "Ready" && c.status === "True");
    }, 180_000, `see ${log("kubelet")} and ${log("containerd")}`, kubelet);
    // The chart's nodeSelector: the control-plane role (kubelets may not label themselves with it).
    await kubectl(["label", "node", NODE_NAME, "node-role.kubernetes.io/control-plane=", "--overwrite"]);
  } catch (err) {
    await stop({ keepDir: true }).catch(() => undefined);
    throw new Error(`the node did not come up (logs in ${join(dir, "logs")}): ${(err as Error).message}`);
  }

  return {
    dir, nodeName: NODE_NAME, nodeIp, kubeconfigPath: adminConf, pki,
    etcdEndpoint: ETCD_CLIENT, etcdPeerUrl: ETCD_PEER, get etcdDataDir() { return currentDataDir; }, etcdMemberName: NODE_NAME,
    kubeletDir: join(dir, "kubelet"),
    kubectl,
    async importImages(files) { for (const f of files) await ctr(["images", "import", f]); },
    stopControlPlane,
    startControlPlane,
    stop,
  };
}
