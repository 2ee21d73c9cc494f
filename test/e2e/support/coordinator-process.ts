// The twinsnap coordinator as operators run it: a process of its own (the single executable Velero's plugin
// image also ships, `twinsnap coordinator`), pointed at a cluster's etcd and at Velero's BackupStorageLocation
// (`--store bsl:default`, so it writes under <prefix>/plugins/twinsnap/ of Velero's bucket). Its log is
// `<dir>/coordinator.log`; /metrics and /readyz are on a free loopback port.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../support/control-plane.js";
import type { E2eCluster } from "./cluster.js";
import type { ObjectStore } from "./object-store.js";
import { TWINSNAP_EXECUTABLE_DIR } from "./plugin-dir.js";
import { waitUntil } from "./wait.js";

export interface CoordinatorProcessOptions {
  cluster: E2eCluster;
  /** The S3 server whose credentials file the coordinator reads (AWS_SHARED_CREDENTIALS_FILE), as Velero does. */
  store: ObjectStore;
  dir: string;
  veleroNamespace?: string;
  /** More flags, e.g. ["--retention-grace", "5s"]. */
  args?: string[];
}

export class CoordinatorProcess {
  readonly logPath: string;
  private readonly exit: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly metricsUrl: string,
    dir: string,
  ) {
    this.logPath = join(dir, "coordinator.log");
    this.exit = new Promise((r) => child.once("exit", () => r()));
  }

  static async start(opts: CoordinatorProcessOptions): Promise<CoordinatorProcess> {
    const exe = join(TWINSNAP_EXECUTABLE_DIR, "twinsnap");
    if (!existsSync(exe)) throw new Error(`${exe} is missing: run "npm run build:executable" (npm run test:e2e does)`);
    mkdirSync(opts.dir, { recursive: true });
    const port = await freePort();
    const args = [
      "coordinator",
      "--etcd-endpoints", opts.cluster.controlPlane.etcdEndpoint,
      "--store", "bsl:default",
      "--kubeconfig", opts.cluster.kubeconfigPath,
      "--velero-namespace", opts.veleroNamespace ?? "velero",
      "--metrics-address", `127.0.0.1:${port}`,
      ...(opts.args ?? []),
    ];
    const child = spawn(exe, args, {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: opts.dir, AWS_SHARED_CREDENTIALS_FILE: opts.store.credentialsFile },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const log = createWriteStream(join(opts.dir, "coordinator.log"), { flags: "a" });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    const coordinator = new CoordinatorProcess(child, `http://127.0.0.1:${port}`, opts.dir);
    await waitUntil(`the coordinator leading and ready (log: ${coordinator.logPath})`, async () => {
      if (!coordinator.running) throw new Error(`the coordinator exited:\n${coordinator.log().slice(-2000)}`);
      return /leading/.test(coordinator.log()) && (await fetch(`${coordinator.metricsUrl}/readyz`)).ok;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    return coordinator;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  log(): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath, "utf8") : "";
  }

  async metrics(): Promise<string> {
    return (await fetch(`${this.metricsUrl}/metrics`)).text();
  }

  /** SIGTERM, as Kubernetes stops a Pod; SIGKILL after 15 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 15_000);
    await this.exit;
    clearTimeout(timer);
  }
}
