// `twinsnap restore plan --backup NAME`: decides the recovery path and prints it as numbered steps — the same
// steps, from the same data (loadRestorePlan), that `twinsnap restore run` carries out and prints with --dry-run.
import { progressOf } from "../recovery/restore-run-state.js";
import { formatPlan } from "../recovery/restore-plan.js";
import { loadRestorePlan, type RestorePlanOptions } from "./load-restore-plan.js";
import { formatReport, type ReportFormat } from "./report.js";

export async function restorePlanCommand(opts: RestorePlanOptions & { output: ReportFormat }, io: { out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  const { store, pair, plan, saved, planStore } = await loadRestorePlan(opts);
  store.close?.();
  if (planStore !== opts.store) {
    io.err(`note: ${opts.store} is read through the apiserver; the steps use its bucket, ${planStore}, with the credentials in AWS_SHARED_CREDENTIALS_FILE (save the BSL's credentials Secret while the cluster answers)\n`);
  }
  for (const w of plan.warnings) io.err(`warning: ${w}\n`);
  io.out(formatReport(opts.output, { ...plan, progress: progressOf(saved) }, () => formatPlan(plan, pair, progressOf(saved))));
  // No path could be chosen: what is wrong is printed; nothing to carry out.
  return plan.mode === "undecided" ? 1 : 0;
}
