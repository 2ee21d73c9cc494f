// The plugin server is a registry of actions, looked up by the name in each request.
import type { BackupItemAction, ItemAction, RestoreItemAction } from "../actions/action.js";

export type VeleroPluginKind =
  | "BackupItemAction"
  | "BackupItemActionV2"
  | "RestoreItemAction"
  | "RestoreItemActionV2";

export interface PluginIdentifier {
  command: string;
  kind: VeleroPluginKind;
  name: string;
}

/**
 * Which kinds ListPlugins reports. Velero >= 1.12 lists a v1 action under its v2 kind as well, so reporting
 * both for one name makes Velero run the action twice per item: "v2" is right for current Velero, "v1" for
 * Velero releases before v2 actions existed. Every gRPC service is served either way.
 */
export type ListedApi = "v2" | "v1";

export class PluginNotFoundError extends Error {
  override readonly name = "PluginNotFoundError";
  constructor(
    readonly family: string,
    readonly pluginName: string,
    readonly known: readonly string[],
  ) {
    super(`no ${family} item action named "${pluginName}" in twinsnap (it serves: ${known.join(", ") || "none"})`);
  }
}

export class ActionRegistry {
  private readonly backup = new Map<string, BackupItemAction>();
  private readonly restore = new Map<string, RestoreItemAction>();

  register(action: ItemAction): this {
    const table: Map<string, ItemAction> = action.family === "backup" ? this.backup : this.restore;
    if (!/^[^/\s]+\/[^/\s]+$/.test(action.name)) throw new Error(`action name "${action.name}" must look like "<domain>/<name>"`);
    if (table.has(action.name)) throw new Error(`a ${action.family} action named "${action.name}" is already registered`);
    table.set(action.name, action);
    return this;
  }

  backupAction(name: string): BackupItemAction {
    const action = this.backup.get(name);
    if (!action) throw new PluginNotFoundError("backup", name, [...this.backup.keys()]);
    return action;
  }

  restoreAction(name: string): RestoreItemAction {
    const action = this.restore.get(name);
    if (!action) throw new PluginNotFoundError("restore", name, [...this.restore.keys()]);
    return action;
  }

  list(command: string, api: ListedApi): PluginIdentifier[] {
    const suffix = api === "v2" ? "V2" : "";
    return [
      ...[...this.backup.keys()].map((name) => ({ command, kind: `BackupItemAction${suffix}` as VeleroPluginKind, name })),
      ...[...this.restore.keys()].map((name) => ({ command, kind: `RestoreItemAction${suffix}` as VeleroPluginKind, name })),
    ];
  }
}
