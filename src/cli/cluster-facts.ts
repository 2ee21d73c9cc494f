// What the kubeconfig's cluster says about itself, for choosing the recovery path: its identity (the kube-system
// namespace uid), or why it could not be asked (a lost control plane does not answer).
import type { ClusterFacts } from "../coordinator/restore-plan.js";
import { hasClusterAccess, loadClusterConnection } from "../kube/kubeconfig.js";
import { rawClient } from "../kube/raw-client.js";

export async function clusterFacts(opts: { kubeconfig?: string; env: Readonly<Record<string, string | undefined>> }): Promise<ClusterFacts> {
  if (!opts.kubeconfig && !hasClusterAccess({ env: opts.env })) return { unreachable: "no kubeconfig" };
  try {
    const client = rawClient(await loadClusterConnection({ env: opts.env, ...(opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig } : {}) }), { timeoutMs: 5000 });
    try {
      const ns = await client.get<{ metadata: { uid: string } }>("/api/v1/namespaces/kube-system");
      return ns ? { identity: ns.metadata.uid } : { unreachable: "kube-system not found" };
    } finally {
      client.close();
    }
  } catch (err) {
    return { unreachable: (err as Error).message };
  }
}
