// How twinsnap finds a cluster: an explicit kubeconfig, else KUBECONFIG / ~/.kube/config, else the
// in-cluster service account (how Velero's plugins run).
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";

export interface ClusterAccessOptions {
  kubeconfigPath?: string;
  env: Readonly<Record<string, string | undefined>>;
}

/** Whether any cluster credentials exist at all; without them twinsnap does not try localhost:8080. */
export function hasClusterAccess(opts: ClusterAccessOptions): boolean {
  if (opts.kubeconfigPath) return true;
  if (opts.env.KUBECONFIG) return true;
  if (opts.env.KUBERNETES_SERVICE_HOST) return true;
  return existsSync(join(homedir(), ".kube", "config"));
}

export async function loadKubeConfig(opts: ClusterAccessOptions): Promise<KubeConfig> {
  const k8s = await import("@kubernetes/client-node");
  const kc = new k8s.KubeConfig();
  if (opts.kubeconfigPath) kc.loadFromFile(opts.kubeconfigPath);
  else if (opts.env.KUBECONFIG || !opts.env.KUBERNETES_SERVICE_HOST) kc.loadFromDefault();
  else kc.loadFromCluster();
  return kc;
}
