// The shapes of the plugin's gRPC messages as they are decoded (proto-codec.ts; the same as @grpc/proto-loader
// gives with keepCase: field names as written in the .proto files, 64-bit numbers as strings, enums by name).
export interface WireResourceIdentifier {
  group: string;
  resource: string;
  namespace: string;
  name: string;
}

export interface WireResourceSelector {
  includedNamespaces: string[];
  excludedNamespaces: string[];
  includedResources: string[];
  excludedResources: string[];
  selector: string;
}

export interface WireTimestamp {
  seconds: string | number;
  nanos: number;
}

export interface WireOperationProgress {
  completed: boolean;
  err: string;
  nCompleted: string | number;
  nTotal: string | number;
  operationUnits: string;
  description: string;
  started: WireTimestamp | null;
  updated: WireTimestamp | null;
}

export interface WireAppliesToRequest {
  plugin: string;
}

export interface WireBackupExecuteRequest {
  plugin: string;
  item: Buffer;
  backup: Buffer;
}

export interface WireRestoreExecuteRequest {
  plugin: string;
  item: Buffer;
  restore: Buffer;
  itemFromBackup: Buffer;
}

export interface WireBackupProgressRequest {
  plugin: string;
  operationID: string;
  backup: Buffer;
}

export interface WireRestoreProgressRequest {
  plugin: string;
  operationID: string;
  restore: Buffer;
}

export interface WireItemsReadyRequest {
  plugin: string;
  restore: Buffer;
  additionalItems: WireResourceIdentifier[];
}
