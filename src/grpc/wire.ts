// Clients of the plugin's gRPC services (tests and tools, through grpc-js), and the shapes of their messages as
// proto-loader decodes them (keepCase: field names as written in the .proto files). The plugin itself serves them
// with grpc-server.ts and the definitions in services.ts.
import * as grpc from "@grpc/grpc-js";
import { fromJSON } from "@grpc/proto-loader";
import { protoDescriptor } from "../generated/proto-descriptor.js";

const packageDefinition = fromJSON(protoDescriptor as Parameters<typeof fromJSON>[0], {
  keepCase: true,
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
});

type ServiceCtor = grpc.ServiceClientConstructor;
// loadPackageDefinition returns an untyped tree; these lookups are checked once here.
const tree = grpc.loadPackageDefinition(packageDefinition) as unknown as Record<string, Record<string, unknown>>;

function serviceAt(path: string): ServiceCtor {
  let node: unknown = tree;
  for (const part of path.split(".")) node = (node as Record<string, unknown>)[part];
  if (typeof node !== "function") throw new Error(`service ${path} is missing from the proto descriptor`);
  return node as ServiceCtor;
}

/** Client constructors (tests and tools), by full proto name. */
export const Wire = {
  Health: serviceAt("grpc.health.v1.Health"),
  GRPCController: serviceAt("plugin.GRPCController"),
  GRPCBroker: serviceAt("plugin.GRPCBroker"),
  GRPCStdio: serviceAt("plugin.GRPCStdio"),
  PluginLister: serviceAt("generated.PluginLister"),
  BackupItemActionV1: serviceAt("generated.BackupItemAction"),
  RestoreItemActionV1: serviceAt("generated.RestoreItemAction"),
  BackupItemActionV2: serviceAt("v2.BackupItemAction"),
  RestoreItemActionV2: serviceAt("v2.RestoreItemAction"),
} as const;

// ---- message shapes (as proto-loader decodes them with the options above) ----

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

/** Every gRPC option twinsnap's servers and test clients use: Velero items can exceed grpc-js's 4 MiB default. */
export const UNLIMITED_MESSAGES: grpc.ChannelOptions = {
  "grpc.max_receive_message_length": -1,
  "grpc.max_send_message_length": -1,
};
