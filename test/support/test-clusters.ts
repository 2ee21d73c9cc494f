// Clusters for integration tests, started once per test run and stopped at its end (mocha root hooks, loaded
// by .mocharc). TWINSNAP_TEST_KUBECONFIG (and TWINSNAP_TEST_TARGET_KUBECONFIG for tests that need a second,
// fresh cluster) point the tests at existing clusters instead, e.g. kind or minikube.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { startControlPlane, type ControlPlane } from "./control-plane.js";
import { peer } from "./peers.js";

const run = promisify(execFile);

export interface TestCluster {
  name: string;
  kubeconfigPath: string;
  /** The control plane when the tests started it (not for external clusters). */
  controlPlane?: ControlPlane;
  kubectl(args: string[], opts?: { input?: string }): Promise<string>;
}

const started = new Map<string, Promise<TestCluster>>();
let anyFailed = false;

function external(name: string, kubeconfigPath: string): TestCluster {
  return { name, kubeconfigPath, kubectl: (args) => kubectl(kubeconfigPath, args) };
}

export async function kubectl(kubeconfigPath: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(peer("KUBECTL_BIN"), ["--kubeconfig", kubeconfigPath, ...args], { maxBuffer: 256 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(" ")} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** A cluster by role, started on first use. "source" is shared by all tests; other names get their own. */
export function testCluster(name: string, opts: { withControllerManager?: boolean } = {}): Promise<TestCluster> {
  let cluster = started.get(name);
  if (!cluster) {
    const envName = name === "source" ? "TWINSNAP_TEST_KUBECONFIG" : "TWINSNAP_TEST_TARGET_KUBECONFIG";
    const given = process.env[envName];
    cluster = given
      ? Promise.resolve(external(name, given))
      : startControlPlane({ name, ...opts }).then((cp) => ({ ...external(name, cp.kubeconfigPath), controlPlane: cp }));
    started.set(name, cluster);
  }
  return cluster;
}

export const mochaHooks = {
  afterEach(this: { currentTest?: { state?: string } }) {
    if (this.currentTest?.state === "failed") anyFailed = true;
  },
  async afterAll() {
    for (const [, pending] of started) {
      const cluster = await pending.catch(() => undefined);
      const cp = cluster?.controlPlane;
      if (!cp) continue;
      await cp.stop({ keepDir: anyFailed });
      if (anyFailed) process.stderr.write(`kept ${cp.name} control plane logs in ${cp.dir}\n`);
    }
  },
};
