// The gRPC services the plugin serves (go-plugin's, grpc health, Velero's), from the descriptor compiled from
// proto/, as grpc-server.ts takes them: each method's path and the codec of its messages (proto-codec.ts).
// Message shapes are in wire.ts.
import { protoDescriptor } from "../generated/proto-descriptor.js";
import { ProtoSchema } from "./proto-codec.js";

const schema = new ProtoSchema(protoDescriptor);

/** By full proto name. */
export const Services = {
  Health: schema.service("grpc.health.v1.Health"),
  GRPCController: schema.service("plugin.GRPCController"),
  GRPCBroker: schema.service("plugin.GRPCBroker"),
  GRPCStdio: schema.service("plugin.GRPCStdio"),
  PluginLister: schema.service("generated.PluginLister"),
  BackupItemActionV1: schema.service("generated.BackupItemAction"),
  RestoreItemActionV1: schema.service("generated.RestoreItemAction"),
  BackupItemActionV2: schema.service("v2.BackupItemAction"),
  RestoreItemActionV2: schema.service("v2.RestoreItemAction"),
} as const;
