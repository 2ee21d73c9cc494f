// What an item action is, in Velero's terms but without the wire: plain objects in, plain objects out.
// The plugin server (src/velero-plugin) is the only place that turns gRPC into these calls and back.
import type { KubeObject } from "../manifest/object.js";

export interface ResourceSelector {
  includedNamespaces?: string[];
  excludedNamespaces?: string[];
  /** Velero resource names ("services", "deployments.apps") or "*". */
  includedResources?: string[];
  excludedResources?: string[];
  /** A label selector in kubectl syntax. */
  selector?: string;
}

export interface ResourceIdentifier {
  group: string;
  resource: string;
  namespace: string;
  name: string;
}

export interface OperationProgress {
  completed: boolean;
  error?: string;
  completedUnits?: number;
  totalUnits?: number;
  unit?: string;
  description?: string;
  started?: Date;
  updated?: Date;
}

/** Velero's Backup and Restore objects as JSON (velero.io/v1). */
export type VeleroObject = Record<string, unknown>;

export interface BackupItemActionInput {
  item: KubeObject;
  backup: VeleroObject;
}

export interface BackupItemActionOutput {
  item: KubeObject;
  additionalItems?: ResourceIdentifier[];
  operationId?: string;
  postOperationItems?: ResourceIdentifier[];
}

export interface BackupItemAction {
  readonly family: "backup";
  /** "<domain>/<name>", as Velero requires. */
  readonly name: string;
  appliesTo(): ResourceSelector;
  execute(input: BackupItemActionInput): Promise<BackupItemActionOutput>;
  progress?(operationId: string, backup: VeleroObject): Promise<OperationProgress>;
  cancel?(operationId: string, backup: VeleroObject): Promise<void>;
}

export interface RestoreItemActionInput {
  item: KubeObject;
  itemFromBackup: KubeObject;
  restore: VeleroObject;
}

export interface RestoreItemActionOutput {
  item: KubeObject;
  additionalItems?: ResourceIdentifier[];
  skipRestore?: boolean;
  operationId?: string;
  /** Ask Velero to poll areAdditionalItemsReady before it creates this item. */
  waitForAdditionalItems?: boolean;
  additionalItemsReadyTimeoutMs?: number;
}

export interface RestoreItemAction {
  readonly family: "restore";
  readonly name: string;
  appliesTo(): ResourceSelector;
  execute(input: RestoreItemActionInput): Promise<RestoreItemActionOutput>;
  areAdditionalItemsReady?(items: ResourceIdentifier[], restore: VeleroObject): Promise<boolean>;
  progress?(operationId: string, restore: VeleroObject): Promise<OperationProgress>;
  cancel?(operationId: string, restore: VeleroObject): Promise<void>;
}

export type ItemAction = BackupItemAction | RestoreItemAction;

/** An action was asked about an asynchronous operation it never started. */
export class UnknownOperationError extends Error {
  override readonly name = "UnknownOperationError";
  constructor(
    readonly action: string,
    readonly operationId: string,
  ) {
    super(`${action} has no operation "${operationId}": it finishes its work inside Execute`);
  }
}
