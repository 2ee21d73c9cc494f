// A cluster of an end-to-end test: a real control plane on loopback (test/support/control-plane.ts) and the
// real kubectl pointed at it, with stdin for `apply -f -`.
import { spawn } from "node:child_process";
import { startControlPlane, type ControlPlane } from "../../support/control-plane.js";
import { peer } from "../../support/peers.js";

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

export class CommandError extends Error {
  override readonly name = "CommandError";
  constructor(
    readonly command: string,
    readonly result: CommandResult,
  ) {
    super(`${command} exited with ${result.code}: ${(result.stderr.trim() || result.stdout.trim()).slice(0, 4000)}`);
  }
}

/** TWINSNAP_E2E_VERBOSE=1 prints each command with its duration: where an e2e run spends its time. */
const VERBOSE = process.env.TWINSNAP_E2E_VERBOSE === "1";

/** Runs a program to its end; rejects with its output unless it exits 0 (or `allowFailure`). */
export function runCommand(
  bin: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; allowFailure?: boolean; label?: string } = {},
): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const result = { stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code: code ?? (signal ? 128 : 1) };
      if (VERBOSE) process.stderr.write(`    [e2e] ${((Date.now() - started) / 1000).toFixed(1)} s  ${(opts.label ?? `${bin} ${args.join(" ")}`).slice(0, 160)}\n`);
      if (result.code !== 0 && !opts.allowFailure) reject(new CommandError(opts.label ?? `${bin} ${args.join(" ")}`, result));
      else resolve(result);
    });
    child.stdin.end(opts.input ?? "");
  });
}

export interface E2eCluster {
  name: string;
  kubeconfigPath: string;
  controlPlane: ControlPlane;
  kubectl(args: readonly string[], opts?: { input?: string }): Promise<string>;
  /** `kubectl get ... -o json`, parsed. */
  getJson<T = Record<string, any>>(args: readonly string[]): Promise<T>;
  /** `kubectl apply -f -` of objects (JSON is YAML). */
  apply(objects: readonly object[]): Promise<string>;
}

export async function startCluster(name: string, opts: { withControllerManager?: boolean } = {}): Promise<E2eCluster> {
  const controlPlane = await startControlPlane({ name, withControllerManager: opts.withControllerManager ?? true });
  const kubectl = async (args: readonly string[], o: { input?: string } = {}) =>
    (await runCommand(peer("KUBECTL_BIN"), ["--kubeconfig", controlPlane.kubeconfigPath, ...args], { ...(o.input !== undefined ? { input: o.input } : {}), label: `kubectl ${args.join(" ")} (cluster ${name})` })).stdout;
  return {
    name,
    kubeconfigPath: controlPlane.kubeconfigPath,
    controlPlane,
    kubectl,
    getJson: async (args) => JSON.parse(await kubectl(["get", ...args, "-o", "json"])),
    apply: (objects) => kubectl(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }) }),
  };
}
