// The real `velero server` as a local process against a test control plane, set up the way `velero install`
// sets up a cluster (see scripts/peers/smoke.sh for the same recipe in shell, and the pitfalls it records):
// Velero's CRDs from `velero install --crds-only --dry-run -o yaml`, its namespace, the placeholder `velero`
// Deployment its pod-volume restore action reads, the plugins directory (plugin-dir.ts), S3 credentials in
// AWS_SHARED_CREDENTIALS_FILE, and BackupStorageLocation `default` created with the CLI, which must become
// Available. The server's log (plugin stderr included: go-plugin relays it) is `<dir>/velero-server.log`.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../support/control-plane.js";
import { peer } from "../../support/peers.js";
import { runCommand, type E2eCluster } from "./cluster.js";
import type { ObjectStore } from "./object-store.js";
import { makePluginDir } from "./plugin-dir.js";
import { childProcesses, isAlive, processArgv, type ProcessInfo } from "./processes.js";
import { VeleroCli } from "./velero-cli.js";
import { waitUntil } from "./wait.js";

export interface VeleroServerOptions {
  cluster: E2eCluster;
  /** Where the plugins directory, the CLI's HOME and the server log go. */
  dir: string;
  store: ObjectStore;
  /** The BackupStorageLocation's prefix in the shared bucket; the same prefix on two clusters shares backups. */
  prefix: string;
  /** false: stock Velero (its own plugins and the AWS object store), for side-by-side comparisons. */
  twinsnap: boolean;
  namespace?: string;
  /** Extra environment of the server, which its plugins inherit. */
  env?: Record<string, string>;
  /** Extra `velero server` flags. */
  serverArgs?: string[];
  /**
   * A kubeconfig given as `velero server --kubeconfig FILE` instead of KUBECONFIG in its environment: a Velero
   * started outside a cluster that way (Velero passes its server arguments, not this variable, to its plugins).
   */
  kubeconfigFlag?: string;
}

// Once per cluster, also when two Velero installations on one cluster start at the same time.
const CRDS_INSTALLED = new WeakMap<E2eCluster, Promise<void>>();

function installCrds(cluster: E2eCluster): Promise<void> {
  let installed = CRDS_INSTALLED.get(cluster);
  if (!installed) {
    installed = (async () => {
      const { stdout } = await runCommand(peer("VELERO_BIN"), ["install", "--crds-only", "--dry-run", "-o", "yaml"], { label: "velero install --crds-only --dry-run -o yaml" });
      await cluster.kubectl(["apply", "-f", "-"], { input: stdout });
      await cluster.kubectl(["wait", "--for=condition=Established", "--timeout=120s", "crd", "-l", "component=velero"]);
    })();
    CRDS_INSTALLED.set(cluster, installed);
  }
  return installed;
}

export class VeleroServer {
  readonly cli: VeleroCli;
  readonly logPath: string;
  readonly pluginDir: string;
  private exit: Promise<void>;
  private seenChildren = new Map<number, string>();

  private constructor(
    readonly opts: Required<Pick<VeleroServerOptions, "namespace">> & VeleroServerOptions,
    private readonly child: ChildProcess,
    logPath: string,
    pluginDir: string,
  ) {
    this.cli = new VeleroCli(opts.cluster, opts.namespace, join(opts.dir, "home"));
    this.logPath = logPath;
    this.pluginDir = pluginDir;
    this.exit = new Promise((r) => child.once("exit", () => r()));
  }

  static async start(options: VeleroServerOptions): Promise<VeleroServer> {
    const opts = { namespace: "velero", ...options };
    const { cluster, namespace } = opts;
    await installCrds(cluster);
    await cluster.kubectl(["create", "namespace", namespace]).catch((err: Error) => {
      if (!/AlreadyExists/.test(err.message)) throw err;
    });
    // Velero's built-in pod-volume-restore action reads the image of Deployment <ns>/velero and fails every
    // restore without it. With no kubelet its Pods never run, so a Deployment with no replicas does.
    await cluster.apply([
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "velero", namespace, labels: { component: "velero" } },
        spec: {
          replicas: 0,
          selector: { matchLabels: { deploy: "velero" } },
          template: { metadata: { labels: { deploy: "velero" } }, spec: { containers: [{ name: "velero", image: "velero/velero:v1.18.1" }] } },
        },
      },
    ]);
    const pluginDir = makePluginDir(join(opts.dir, "plugins"), { twinsnap: opts.twinsnap });
    const logPath = join(opts.dir, "velero-server.log");
    const log = createWriteStream(logPath, { flags: "a" });
    const args = [
      "server",
      "--namespace", namespace,
      "--plugin-dir", pluginDir,
      "--metrics-address", `127.0.0.1:${await freePort()}`,
      "--profiler-address", `127.0.0.1:${await freePort()}`,
      // Velero's sync of backups from the bucket runs at start and then at most once a minute (hard-coded);
      // a short period makes every one of those runs sync, instead of every fifth by default.
      "--backup-sync-period", "3s",
      ...(opts.kubeconfigFlag ? ["--kubeconfig", opts.kubeconfigFlag] : []),
      ...(opts.serverArgs ?? []),
    ];
    const child = spawn(peer("VELERO_BIN"), args, {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: join(opts.dir, "home"),
        ...(opts.kubeconfigFlag ? {} : { KUBECONFIG: cluster.kubeconfigPath }),
        VELERO_NAMESPACE: namespace,
        AWS_SHARED_CREDENTIALS_FILE: opts.store.credentialsFile,
        ...opts.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    const server = new VeleroServer(opts, child, logPath, pluginDir);
    try {
      await server.ready();
    } catch (err) {
      await server.stop(); // not handed to the caller: nobody else would stop it
      throw err;
    }
    return server;
  }

  /** BackupStorageLocation `default`, created with the CLI as a user does, Available. */
  private async ready(): Promise<void> {
    const { cluster, namespace, store, prefix } = this.opts;
    const logPath = this.logPath;
    await this.cli.run([
      "backup-location", "create", "default", "--default", "--provider", "aws", "--bucket", store.bucket, "--prefix", prefix,
      "--config", `region=us-east-1,s3ForcePathStyle=true,s3Url=${store.url}`,
    ]);
    await waitUntil(
      `BackupStorageLocation ${namespace}/default Available on ${cluster.name} (server log: ${logPath})`,
      async () => {
        const bsl = await cluster.getJson(["backupstoragelocations.velero.io", "default", "-n", namespace]);
        if (bsl.status?.phase === "Available") return true;
        throw new Error(`phase ${bsl.status?.phase ?? "(none)"} ${bsl.status?.message ?? ""}`);
      },
      { timeoutMs: 120_000, intervalMs: 500, failIf: () => (this.running ? undefined : `velero server exited; last lines of ${logPath}:\n${this.logTail(5)}`) },
    );
  }

  get namespace(): string {
    return this.opts.namespace;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  log(): string {
    return readFileSync(this.logPath, "utf8");
  }

  logTail(lines: number): string {
    return this.log().split("\n").slice(-lines - 1).join("\n");
  }

  /** The plugin processes the server runs now (twinsnap, the AWS plugin, `velero run-plugins`). */
  plugins(): ProcessInfo[] {
    const children = childProcesses(this.pid);
    for (const c of children) this.seenChildren.set(c.pid, c.argv[0]!);
    return children;
  }

  /** twinsnap's plugin processes: the executable from the plugins directory. */
  twinsnapProcesses(): ProcessInfo[] {
    const exe = join(this.pluginDir, "twinsnap");
    return this.plugins().filter((p) => p.argv[0] === exe);
  }

  /** Waits until this server lists backup `name`: on another cluster, once its sync found it in the bucket. */
  async waitForBackup(name: string, timeoutMs = 120_000): Promise<void> {
    const started = Date.now();
    await waitUntil(
      `backup ${name} synced from the bucket into ${this.opts.cluster.name}`,
      async () => (await this.opts.cluster.kubectl(["get", "backups.velero.io", "-n", this.namespace, "-o", "name"])).split("\n").includes(`backup.velero.io/${name}`),
      { timeoutMs, intervalMs: 500 },
    );
    if (process.env.TWINSNAP_E2E_VERBOSE === "1") process.stderr.write(`    [e2e] ${((Date.now() - started) / 1000).toFixed(1)} s  backup ${name} synced into ${this.opts.cluster.name}\n`);
  }

  async stop(): Promise<void> {
    this.plugins();
    if (this.running) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
      await this.exit;
      clearTimeout(timer);
    }
    // Plugins outliving a killed server were started by it (their ids recorded while it ran): stop them.
    for (const [pid, exe] of this.seenChildren) {
      if (isAlive(pid) && processArgv(pid)[0] === exe) process.kill(pid, "SIGKILL");
    }
  }
}
