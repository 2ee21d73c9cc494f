// gRPC clients of the plugin's services through grpc-js, as a host other than Velero's grpc-go would call them:
// the tests' go-plugin host and the benchmarks. The plugin itself serves them with src/grpc/grpc-server.ts.
import * as grpc from "@grpc/grpc-js";
import { fromJSON } from "@grpc/proto-loader";
import { protoDescriptor } from "../../src/generated/proto-descriptor.js";

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

/** Client constructors, by full proto name. */
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

/** Velero items can exceed grpc-js's 4 MiB default. */
export const UNLIMITED_MESSAGES: grpc.ChannelOptions = {
  "grpc.max_receive_message_length": -1,
  "grpc.max_send_message_length": -1,
};
