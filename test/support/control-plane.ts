// A real Kubernetes control plane on loopback for tests: etcd and kube-apiserver (and, if asked,
// kube-controller-manager) as child processes on free ports, with a kubeconfig. Logs stay in its directory,
// which is kept when a test run fails.
import { spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import https from "node:https";
import { makePki, type Pki } from "./node/pki.js";
import { peer } from "./peers.js";

export interface ControlPlane {
  name: string;
  dir: string;
  kubeconfigPath: string;
  server: string;
  token: string;
  etcdEndpoint: string;
  /** The member's peer URL (what `etcdutl snapshot restore --initial-advertise-peer-urls` takes). */
  etcdPeerUrl: string;
  etcdDataDir: string;
  /** Stops every process; with keepDir false (default) also removes the directory. */
  stop(opts?: { keepDir?: boolean }): Promise<void>;
  /** Stops only etcd (for fault tests); returns a function that starts it again on the same data. */
  stopEtcd(): Promise<() => Promise<void>>;
  /**
   * The control plane comes back on another etcd data directory (a restored snapshot): the API server and etcd
   * stop, etcd starts on `dataDir` with the same ports, then the API server — what an operator does by hand.
   */
  restartOnEtcdData(dataDir: string): Promise<void>;
  /** The two halves of restartOnEtcdData, for tests that play the operator between them. */
  stopApiServerAndEtcd(): Promise<void>;
  /** etcd on `dataDir` (same member name and ports), then the API server; resolves once /readyz answers. */
  startOnEtcdData(dataDir: string): Promise<void>;
}

/**
 * A loopback port for a child process to listen on. Picked below the kernel's ephemeral range: a port the
 * kernel hands out for `listen(0)` may, once released, become the source port of any outgoing connection
 * before the child binds it ("bind: address already in use", seen in CI). Never the same port twice per run.
 */
export async function freePort(): Promise<number> {
  const [low, high] = [10_000, ephemeralLow() - 1];
  for (let attempt = 0; high - low > 1000 && attempt < 50; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  return kernelPort(); // a machine whose ephemeral range leaves no room below it
}

const handedOut = new Set<number>();

function ephemeralLow(): number {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function startProcess(dir: string, name: string, bin: string, args: string[]): ChildProcess {
  const log = createWriteStream(join(dir, `${name}.log`));
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  return child;
}

async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, logHint: string, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`${what} exited before it was ready; see ${logHint}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} not ready after ${timeoutMs / 1000} s; see ${logHint}`);
}

function httpsGet(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { rejectUnauthorized: false, headers: { authorization: `Bearer ${token}` }, timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timeout")));
  });
}

async function startEtcd(dir: string, dataDir: string, clientPort: number, peerPort: number, extraArgs: string[] = []): Promise<ChildProcess> {
  const url = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const child = startProcess(dir, "etcd", peer("ETCD_BIN"), [
    "--name=test",
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${url}`,
    `--advertise-client-urls=${url}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=test=${peerUrl}`,
    "--log-level=warn",
    ...extraArgs,
  ]);
  await waitFor("etcd", async () => (await fetch(`${url}/health`)).ok, 30_000, join(dir, "etcd.log"));
  return child;
}

export interface StandaloneEtcd {
  endpoint: string;
  dir: string;
  dataDir: string;
  /** SIGKILL, as a crash or an OOM kill would: no graceful shutdown, the data directory as it is. */
  kill(): Promise<void>;
  /** Starts etcd again on the same data directory and ports (after kill). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A single etcd member on loopback, for snapshot tests. */
export async function startStandaloneEtcd(name: string): Promise<StandaloneEtcd> {
  const dir = mkdtempSync(join(tmpdir(), `twinsnap-${name}-`));
  const dataDir = join(dir, "etcd-data");
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  let child: ChildProcess | undefined = await startEtcd(dir, dataDir, clientPort, peerPort);
  return {
    endpoint: `http://127.0.0.1:${clientPort}`,
    dir,
    dataDir,
    async kill() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const exited = new Promise<void>((r) => running.once("exit", () => r()));
      running.kill("SIGKILL");
      await exited;
    },
    async restart() {
      await stopProcess(child);
      child = await startEtcd(dir, dataDir, clientPort, peerPort);
    },
    async stop() {
      await stopProcess(child);
      const { rmSync } = await import("node:fs");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** etcd on an existing data directory (e.g. one restored from a snapshot). */
export async function startEtcdOn(dir: string, dataDir: string, extraArgs: string[] = []): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const child = await startEtcd(dir, dataDir, clientPort, peerPort, extraArgs);
  return { endpoint: `http://127.0.0.1:${clientPort}`, stop: () => stopProcess(child) };
}

export interface TlsEtcd {
  endpoint: string;
  /** kubeadm's layout: pki.etcd.ca, pki.etcd.healthcheckCert/Key (a client etcd accepts), pki.ca (another CA). */
  pki: Pki;
  stop(): Promise<void>;
}

/** A single etcd member on loopback that serves TLS and asks every client for a certificate, as kubeadm's do. */
export async function startTlsEtcd(name: string): Promise<TlsEtcd> {
  const dir = mkdtempSync(join(tmpdir(), `twinsnap-${name}-`));
  const pki = makePki(dir, "127.0.0.1", "localhost");
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const url = `https://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const child = startProcess(dir, "etcd", peer("ETCD_BIN"), [
    "--name=test",
    `--data-dir=${join(dir, "etcd-data")}`,
    `--listen-client-urls=${url}`,
    `--advertise-client-urls=${url}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=test=${peerUrl}`,
    `--cert-file=${pki.etcd.serverCert}`,
    `--key-file=${pki.etcd.serverKey}`,
    `--trusted-ca-file=${pki.etcd.ca}`,
    "--client-cert-auth=true",
    "--log-level=warn",
  ]);
  const tls = { ca: readFileSync(pki.etcd.ca), cert: readFileSync(pki.etcd.healthcheckCert), key: readFileSync(pki.etcd.healthcheckKey) };
  const healthy = () =>
    new Promise<boolean>((resolve, reject) => {
      const req = https.get(`${url}/health`, { ...tls, timeout: 5000 }, (res) => (res.resume(), resolve(res.statusCode === 200)));
      req.on("error", reject);
      req.on("timeout", () => req.destroy(new Error("timeout")));
    });
  await waitFor("etcd (TLS)", healthy, 30_000, join(dir, "etcd.log"), child);
  return {
    endpoint: url,
    pki,
    async stop() {
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** bindAddress "::1": the apiserver listens on the IPv6 loopback only (its server URL is https://[::1]:port). */
export async function startControlPlane(opts: {
  name: string;
  withControllerManager?: boolean;
  bindAddress?: "127.0.0.1" | "::1";
  /** An EncryptionConfiguration file: the apiserver encrypts at rest what it names (--encryption-provider-config). */
  encryptionProviderConfig?: string;
}): Promise<ControlPlane> {
  const dir = mkdtempSync(join(tmpdir(), `twinsnap-${opts.name}-`));
  const certDir = join(dir, "certs");
  mkdirSync(certDir);
  const etcdDataDir = join(dir, "etcd-data");
  const [etcdPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const token = "twinsnap-test-admin-token";
  writeFileSync(join(dir, "tokens.csv"), `${token},admin,admin,system:masters\n`);
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  writeFileSync(join(dir, "sa.key"), privateKey.export({ type: "pkcs1", format: "pem" }));
  writeFileSync(join(dir, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }));

  let etcd: ChildProcess | undefined = await startEtcd(dir, etcdDataDir, etcdPort, etcdPeerPort);
  const bindAddress = opts.bindAddress ?? "127.0.0.1";
  const server = `https://${bindAddress.includes(":") ? `[${bindAddress}]` : bindAddress}:${apiPort}`;
  const apiserverArgs = [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    `--bind-address=${bindAddress}`,
    `--secure-port=${apiPort}`,
    `--cert-dir=${certDir}`,
    `--token-auth-file=${join(dir, "tokens.csv")}`,
    "--authorization-mode=RBAC",
    `--service-account-key-file=${join(dir, "sa.pub")}`,
    `--service-account-signing-key-file=${join(dir, "sa.key")}`,
    "--service-account-issuer=https://kubernetes.default.svc",
    "--service-cluster-ip-range=10.96.0.0/12",
    "--advertise-address=127.0.0.1",
    ...(opts.encryptionProviderConfig ? [`--encryption-provider-config=${opts.encryptionProviderConfig}`] : []),
    // Webhook and aggregated-API calls go to a Service's endpoints (127.0.0.0/8 in tests), never to its ClusterIP:
    // 10.96.0.0/12 is not on this machine, such traffic would leave it (the network rule).
    "--enable-aggregator-routing=true",
  ];
  let apiserver = startProcess(dir, "kube-apiserver", peer("KUBE_APISERVER_BIN"), apiserverArgs);
  const kubeconfigPath = join(dir, "kubeconfig");
  writeFileSync(
    kubeconfigPath,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      `- name: ${opts.name}`,
      "  cluster:",
      `    server: ${server}`,
      "    insecure-skip-tls-verify: true",
      "users:",
      "- name: admin",
      "  user:",
      `    token: ${token}`,
      "contexts:",
      `- name: ${opts.name}`,
      "  context:",
      `    cluster: ${opts.name}`,
      "    user: admin",
      `current-context: ${opts.name}`,
      "",
    ].join("\n"),
  );
  const apiserverReady = () => waitFor("kube-apiserver", async () => (await httpsGet(`${server}/readyz`, token)) === 200, 90_000, join(dir, "kube-apiserver.log"), apiserver);
  try {
    await apiserverReady();
  } catch (err) {
    // Nobody gets a handle to stop them: stop them here (a port taken before the apiserver bound it, say).
    await stopProcess(apiserver);
    await stopProcess(etcd);
    throw err;
  }

  let kcm: ChildProcess | undefined;
  if (opts.withControllerManager) {
    kcm = startProcess(dir, "kube-controller-manager", peer("KUBE_CONTROLLER_MANAGER_BIN"), [
      `--kubeconfig=${kubeconfigPath}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${await freePort()}`,
      `--service-account-private-key-file=${join(dir, "sa.key")}`,
      `--root-ca-file=${join(certDir, "apiserver.crt")}`,
      "--leader-elect=false",
      "--controllers=*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle",
      "--use-service-account-credentials=false",
    ]);
  }

  const stopApiServerAndEtcd = async () => {
    await stopProcess(kcm);
    kcm = undefined;
    await stopProcess(apiserver);
    await stopProcess(etcd);
    etcd = undefined;
  };
  const startOnEtcdData = async (dataDir: string) => {
    etcd = await startEtcd(dir, dataDir, etcdPort, etcdPeerPort);
    apiserver = startProcess(dir, "kube-apiserver", peer("KUBE_APISERVER_BIN"), apiserverArgs);
    await apiserverReady();
  };

  return {
    name: opts.name,
    dir,
    kubeconfigPath,
    server,
    token,
    etcdEndpoint: `http://127.0.0.1:${etcdPort}`,
    etcdPeerUrl: `http://127.0.0.1:${etcdPeerPort}`,
    etcdDataDir,
    async stop(stopOpts = {}) {
      await stopProcess(kcm);
      await stopProcess(apiserver);
      await stopProcess(etcd);
      if (!stopOpts.keepDir) {
        const { rmSync } = await import("node:fs");
        rmSync(dir, { recursive: true, force: true });
      }
    },
    async restartOnEtcdData(dataDir: string) {
      await stopApiServerAndEtcd();
      await startOnEtcdData(dataDir);
    },
    stopApiServerAndEtcd,
    startOnEtcdData,
    async stopEtcd() {
      await stopProcess(etcd);
      etcd = undefined;
      return async () => {
        etcd = await startEtcd(dir, etcdDataDir, etcdPort, etcdPeerPort);
      };
    },
  };
}
