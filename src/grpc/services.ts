// The gRPC services the plugin serves (go-plugin's, grpc health, Velero's), from the descriptor compiled from
// proto/, as method definitions for grpc-server.ts: paths and the protobuf codec of each message. Message shapes
// are in wire.ts (proto-loader with keepCase: field names as written in the .proto files).
import { fromJSON, type ServiceDefinition } from "@grpc/proto-loader";
import { protoDescriptor } from "../generated/proto-descriptor.js";

export const packageDefinition = fromJSON(protoDescriptor as Parameters<typeof fromJSON>[0], {
  keepCase: true,
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
});

function serviceAt(name: string): ServiceDefinition {
  const service = packageDefinition[name];
  if (!service || "format" in service || "type" in service) throw new Error(`service ${name} is missing from the proto descriptor`);
  return service as ServiceDefinition;
}

/** By full proto name. */
export const Services = {
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
