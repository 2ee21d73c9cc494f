// Where the real peers (etcd, kube-apiserver, kubectl, velero, ...) are: built by scripts/peers.sh into a cache
// outside the repository, which writes their paths to current.env. Environment variables of the same names win.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const PEER_CACHE = process.env.TWINSNAP_CACHE ?? join(homedir(), ".cache", "twinsnap");

export type PeerName =
  | "ETCD_BIN"
  | "ETCDUTL_BIN"
  | "ETCDCTL_BIN"
  | "KUBE_APISERVER_BIN"
  | "KUBE_CONTROLLER_MANAGER_BIN"
  | "KUBECTL_BIN"
  | "VELERO_BIN"
  | "VELERO_PLUGIN_AWS_BIN"
  | "VELERO_PLUGIN_CLIENT_BIN"
  | "GO_REFERENCE_PLUGIN_BIN"
  | "HELM_BIN"
  | "MOTO_SERVER_BIN"
  | "KUBELET_BIN"
  | "KUBE_SCHEDULER_BIN"
  | "KUBE_PROXY_BIN"
  | "CONTAINERD_BIN"
  | "CONTAINERD_SHIM_BIN"
  | "CTR_BIN"
  | "WEBHOOK_BACKEND_BIN";

function fromEnvFile(): Record<string, string> {
  const file = join(PEER_CACHE, "peers", "current.env");
  if (!existsSync(file)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^["']|["']$/g, "");
  }
  return out;
}

export class PeerMissingError extends Error {
  override readonly name = "PeerMissingError";
  constructor(readonly peer: PeerName) {
    super(`${peer} is not available: run scripts/peers.sh (npm test does this through .ci/run) or set ${peer} to the binary's path`);
  }
}

/** The path of a peer binary; throws with what to do when it is missing — tests fail, they are never skipped. */
export function peer(name: PeerName): string {
  const path = process.env[name] ?? fromEnvFile()[name];
  if (!path || !existsSync(path)) throw new PeerMissingError(name);
  return path;
}
