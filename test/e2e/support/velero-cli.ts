// The real `velero` CLI, run exactly as a user types it: `velero backup create NAME --wait`, with the
// kubeconfig in KUBECONFIG and a HOME of its own (so no user's ~/.config/velero leaks in). Only a Velero in
// another namespace than the default `velero` gets `-n`, as a user would pass it.
import { mkdirSync } from "node:fs";
import { peer } from "../../support/peers.js";
import { runCommand, type CommandResult, type E2eCluster } from "./cluster.js";

export type VeleroPhase = "New" | "InProgress" | "WaitingForPluginOperations" | "Finalizing" | "Completed" | "PartiallyFailed" | "Failed" | "FailedValidation" | string;

/** The phases a Backup or Restore ends in (before them: New, Queued, ReadyToStart, InProgress, WaitingFor..., Finalizing...). */
export const FINISHED_PHASES: ReadonlySet<string> = new Set(["Completed", "PartiallyFailed", "Failed", "FailedValidation"]);

/** Phases before Velero has processed the items (a plugin killed then lands mid-backup). */
export const BEFORE_ITEMS_DONE_PHASES: ReadonlySet<string> = new Set(["New", "Queued", "ReadyToStart", "InProgress"]);

export interface VeleroRunStatus {
  phase: VeleroPhase;
  errors: number;
  warnings: number;
  failureReason?: string;
  raw: Record<string, any>;
}

export class VeleroCli {
  constructor(
    readonly cluster: E2eCluster,
    readonly namespace: string,
    private readonly home: string,
  ) {
    mkdirSync(home, { recursive: true });
  }

  /** `velero ARGS...`; rejects with the output when it exits non-zero, unless allowFailure. */
  run(args: readonly string[], opts: { allowFailure?: boolean } = {}): Promise<CommandResult> {
    const ns = this.namespace === "velero" ? [] : ["-n", this.namespace];
    return runCommand(peer("VELERO_BIN"), [...args, ...ns], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: this.home, KUBECONFIG: this.cluster.kubeconfigPath },
      allowFailure: opts.allowFailure ?? false,
      label: `velero ${args.join(" ")} (cluster ${this.cluster.name}${ns.length ? `, namespace ${this.namespace}` : ""})`,
    });
  }

  /** `velero backup create NAME [flags] --wait`, then the Backup's status. */
  async backupCreate(name: string, flags: readonly string[] = []): Promise<VeleroRunStatus> {
    await this.run(["backup", "create", name, ...flags, "--wait"]);
    return this.backupStatus(name);
  }

  /** `velero restore create NAME --from-backup BACKUP [flags] --wait`, then the Restore's status. */
  async restoreCreate(name: string, backup: string, flags: readonly string[] = []): Promise<VeleroRunStatus> {
    await this.run(["restore", "create", name, "--from-backup", backup, ...flags, "--wait"]);
    return this.restoreStatus(name);
  }

  async backupLogs(name: string): Promise<string> {
    return (await this.run(["backup", "logs", name])).stdout;
  }

  async restoreLogs(name: string): Promise<string> {
    return (await this.run(["restore", "logs", name])).stdout;
  }

  /** `velero backup describe NAME --details`, without the colours it prints. */
  async backupDescribe(name: string): Promise<string> {
    return withoutColours((await this.run(["backup", "describe", name, "--details"])).stdout);
  }

  async restoreDescribe(name: string): Promise<string> {
    return withoutColours((await this.run(["restore", "describe", name, "--details"])).stdout);
  }

  async pluginGet(): Promise<string> {
    return (await this.run(["plugin", "get"])).stdout;
  }

  backupStatus(name: string): Promise<VeleroRunStatus> {
    return this.status("backups.velero.io", name);
  }

  restoreStatus(name: string): Promise<VeleroRunStatus> {
    return this.status("restores.velero.io", name);
  }

  private async status(resource: string, name: string): Promise<VeleroRunStatus> {
    const obj = await this.cluster.getJson([resource, name, "-n", this.namespace]);
    const status = obj.status ?? {};
    return {
      phase: status.phase ?? "New",
      errors: status.errors ?? 0,
      warnings: status.warnings ?? 0,
      ...(status.failureReason ? { failureReason: status.failureReason } : {}),
      raw: obj,
    };
  }
}

function withoutColours(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}
