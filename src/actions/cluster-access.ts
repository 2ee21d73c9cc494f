// restore-order needs the apiserver (discovery at backup, readiness and the deferred creations at restore).
// Without it the action still runs, as a pass-through, and says so: once per backup or restore, at warning
// level, so that `velero backup logs` / `velero restore logs` name the cause and the fix (Velero counts a
// plugin's warning lines as the backup's warnings).
import type { Logger } from "../log/logger.js";
import { isPlainObject } from "../manifest/object.js";
import type { VeleroObject } from "./action.js";

export interface ClusterAccessProblem {
  cause: string;
  fix: string;
}

/** undefined when the apiserver answers; cheap to call per item (implementations cache). */
export type ClusterAccessCheck = () => Promise<ClusterAccessProblem | undefined>;

export const ALWAYS_REACHABLE: ClusterAccessCheck = async () => undefined;

/** Warns once per Velero Backup or Restore (by uid, else name) that an action is off for it, and why. */
export function oncePerRun(log: Logger, action: string): (run: VeleroObject, family: "backup" | "restore", problem: ClusterAccessProblem) => void {
  const warned = new Set<string>();
  return (run, family, problem) => {
    const meta = isPlainObject(run.metadata) ? run.metadata : {};
    const name = typeof meta.name === "string" ? meta.name : "";
    const id = `${family}/${typeof meta.uid === "string" && meta.uid ? meta.uid : name}`;
    if (warned.has(id)) return;
    warned.add(id);
    const off =
      family === "backup"
        ? "dependencies are not recorded in this backup, so a restore from it cannot order them"
        : "dependencies are not restored first, and webhooks, admission policies and APIServices are not deferred to the end of the restore";
    log.warn(`${action} is OFF for ${family} ${name}: ${problem.cause}; ${off}. Fix: ${problem.fix}`);
  };
}
