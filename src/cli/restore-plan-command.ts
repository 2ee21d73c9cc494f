// `twinsnap restore plan --backup NAME`: decides the recovery path and prints it as numbered steps.
import { findPairRecord } from "../coordinator/pair-store.js";
import { formatPlan, restorePlan, type ClusterFacts, type RestoreMode } from "../coordinator/restore-plan.js";
import { hasClusterAccess, loadClusterConnection } from "../kube/kubeconfig.js";
import { rawClient } from "../kube/raw-client.js";
import { openCliStore } from "./cli-store.js";
import { UsageError } from "./usage-error.js";

export interface RestorePlanOptions {
  backup: string;
  store: string;
  kubeconfig?: string;
  mode?: RestoreMode;
  veleroNamespace: string;
  json: boolean;
  env: Readonly<Record<string, string | undefined>>;
}

async function clusterFacts(opts: RestorePlanOptions): Promise<ClusterFacts> {
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

export async function restorePlanCommand(opts: RestorePlanOptions, io: { out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  const store = await openCliStore(opts);
  const pair = await findPairRecord(store, opts.backup).finally(() => store.close?.());
  if (!pair) throw new UsageError(`no pair record for backup "${opts.backup}" in ${opts.store}`);
  // A bsl: store is read through the apiserver, which the same-cluster steps stop: they name its bucket instead.
  const planStore = opts.store.startsWith("bsl:") ? (store.openUrl ?? store.url) : opts.store;
  const plan = restorePlan({ pair, cluster: await clusterFacts(opts), store: planStore, veleroNamespace: opts.veleroNamespace, ...(opts.mode ? { override: opts.mode } : {}) });
  if (planStore !== opts.store) {
    io.err(`note: ${opts.store} is read through the apiserver; the steps use its bucket, ${planStore}, with the credentials in AWS_SHARED_CREDENTIALS_FILE (save the BSL's credentials Secret while the cluster answers)\n`);
  }
  for (const w of plan.warnings) io.err(`warning: ${w}\n`);
  io.out(opts.json ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan, pair));
  return 0;
}
