// `twinsnap restore plan --backup NAME`: decides the recovery path and prints it as numbered steps — the same
// steps, from the same data, that `twinsnap restore run` carries out (and prints with --dry-run).
import { findPairRecord } from "../coordinator/pair-store.js";
import { formatPlan, restorePlan, type EtcdTarget, type RestoreMode } from "../coordinator/restore-plan.js";
import { openStore } from "../store/open-store.js";
import { clusterFacts } from "./cluster-facts.js";
import { UsageError } from "./usage-error.js";

export interface RestorePlanOptions {
  backup: string;
  store: string;
  kubeconfig?: string;
  mode?: RestoreMode;
  veleroNamespace: string;
  json: boolean;
  /** This node's etcd member, if known: the plan's commands then carry the real values instead of placeholders. */
  etcd?: Partial<EtcdTarget>;
  env: Readonly<Record<string, string | undefined>>;
}

export async function restorePlanCommand(opts: RestorePlanOptions, io: { out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  const pair = await findPairRecord(openStore(opts.store), opts.backup);
  if (!pair) throw new UsageError(`no pair record for backup "${opts.backup}" in ${opts.store}`);
  const plan = restorePlan({
    pair,
    cluster: await clusterFacts({ env: opts.env, ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}) }),
    store: opts.store,
    veleroNamespace: opts.veleroNamespace,
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
    ...(opts.mode ? { override: opts.mode } : {}),
    ...(opts.etcd ? { etcd: opts.etcd } : {}),
  });
  for (const w of plan.warnings) io.err(`warning: ${w}\n`);
  io.out(opts.json ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan, pair));
  return 0;
}
