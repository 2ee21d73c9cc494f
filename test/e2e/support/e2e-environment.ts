// One end-to-end environment per suite file: a directory for every log, the shared S3 server, the clusters
// and their Velero servers, all on loopback. `useE2eEnvironment()` registers the mocha hooks: the environment
// starts before the suite's own `before` hooks and is torn down after its tests; when anything failed, the
// directory is kept and its path printed (it links to each control plane's directory, whose apiserver, etcd
// and controller-manager logs stay too).
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCluster, type E2eCluster } from "./cluster.js";
import { startObjectStore, type ObjectStore } from "./object-store.js";
import { VeleroServer, type VeleroServerOptions } from "./velero-server.js";

export class E2eEnvironment {
  readonly clusters: E2eCluster[] = [];
  readonly servers: VeleroServer[] = [];
  /** Other things a suite started against the clusters (a coordinator): stopped first, newest first. */
  private readonly teardowns: (() => Promise<void>)[] = [];

  private constructor(
    readonly dir: string,
    readonly store: ObjectStore,
  ) {}

  static async start(name: string): Promise<E2eEnvironment> {
    const dir = mkdtempSync(join(tmpdir(), `twinsnap-e2e-${name}-`));
    const env = new E2eEnvironment(dir, await startObjectStore(join(dir, "s3")));
    return env;
  }

  /** A fresh control plane (etcd, kube-apiserver, kube-controller-manager unless told otherwise). */
  async startCluster(name: string, opts: { withControllerManager?: boolean } = {}): Promise<E2eCluster> {
    const started = Date.now();
    const cluster = await startCluster(name, opts);
    if (process.env.TWINSNAP_E2E_VERBOSE === "1") process.stderr.write(`    [e2e] ${((Date.now() - started) / 1000).toFixed(1)} s  control plane ${name}\n`);
    this.clusters.push(cluster);
    symlinkSync(cluster.controlPlane.dir, join(this.dir, `cluster-${name}`));
    return cluster;
  }

  /** A Velero server for `cluster`, with twinsnap in its plugins directory unless `twinsnap: false`. */
  async startVelero(cluster: E2eCluster, opts: Omit<VeleroServerOptions, "cluster" | "dir" | "store"> & { label?: string }): Promise<VeleroServer> {
    const label = opts.label ?? `${cluster.name}-${opts.namespace ?? "velero"}`;
    const started = Date.now();
    const server = await VeleroServer.start({ ...opts, cluster, store: this.store, dir: join(this.dir, `velero-${label}`) });
    if (process.env.TWINSNAP_E2E_VERBOSE === "1") process.stderr.write(`    [e2e] ${((Date.now() - started) / 1000).toFixed(1)} s  velero server ${label} (BSL Available)\n`);
    this.servers.push(server);
    return server;
  }

  /** Registers something to stop before the Velero servers and clusters go. */
  onStop(teardown: () => Promise<void>): void {
    this.teardowns.push(teardown);
  }

  /** Stops everything it started; keeps the directories when asked (a failure) and says where they are. */
  async stop(opts: { keep: boolean }): Promise<void> {
    const errors: unknown[] = [];
    for (const t of this.teardowns.splice(0).reverse()) await t().catch((e) => errors.push(e));
    const started = Date.now();
    await Promise.all(this.servers.splice(0).map((s) => s.stop().catch((e) => errors.push(e))));
    const serversStopped = Date.now();
    await Promise.all(this.clusters.splice(0).map((c) => c.controlPlane.stop({ keepDir: opts.keep }).catch((e) => errors.push(e))));
    if (process.env.TWINSNAP_E2E_VERBOSE === "1") {
      process.stderr.write(`    [e2e] teardown: velero servers ${((serversStopped - started) / 1000).toFixed(1)} s, control planes ${((Date.now() - serversStopped) / 1000).toFixed(1)} s\n`);
    }
    await this.store.stop().catch((e) => errors.push(e));
    if (opts.keep) process.stderr.write(`\n  e2e logs kept in ${this.dir} (velero-*/velero-server.log, cluster-*/, s3/s3.log)\n`);
    else rmSync(this.dir, { recursive: true, force: true });
    if (errors.length > 0) throw new AggregateError(errors, "tearing down the e2e environment");
  }
}

/**
 * Registers the hooks of one suite's environment and returns its accessor. Use at the top of a `describe`,
 * before the suite's own `before` (which starts clusters and Velero servers through it).
 */
export function useE2eEnvironment(name: string): () => E2eEnvironment {
  let env: E2eEnvironment | undefined;
  let failed = false;
  before(async function () {
    this.timeout(120_000);
    env = await E2eEnvironment.start(name);
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed") {
      if (!failed && env) process.stderr.write(`\n  e2e logs (kept): ${env.dir}\n`);
      failed = true;
    }
  });
  after(async function () {
    this.timeout(120_000);
    // A failed before hook leaves tests unrun: keep the logs then too.
    const unpassed = (this.test?.parent?.tests ?? []).some((t) => t.state !== "passed");
    await env?.stop({ keep: failed || unpassed });
  });
  return () => {
    if (!env) throw new Error("the e2e environment is not started (useE2eEnvironment registers a before hook)");
    return env;
  };
}
