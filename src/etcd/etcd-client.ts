// Connecting to etcd the way kubeadm control planes are set up: one or more endpoints, TLS with a client
// certificate, key and CA (e.g. /etc/kubernetes/pki/etcd/{ca.crt,healthcheck-client.crt,healthcheck-client.key}).
import { readFileSync } from "node:fs";
import { Etcd3, type IOptions } from "etcd3";

export interface EtcdConnectionOptions {
  endpoints: string[];
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** How long to wait for a connection, default 5 s. */
  dialTimeoutMs?: number;
}

export function connectEtcd(opts: EtcdConnectionOptions): Etcd3 {
  if (opts.endpoints.length === 0) throw new Error("no etcd endpoints given");
  const options: IOptions = {
    hosts: opts.endpoints,
    dialTimeout: opts.dialTimeoutMs ?? 5000,
    // Snapshots arrive in chunks, but other maintenance replies can exceed gRPC's 4 MiB default.
    grpcOptions: { "grpc.max_receive_message_length": -1 },
  };
  if (opts.caFile) {
    options.credentials = {
      rootCertificate: readFileSync(opts.caFile),
      ...(opts.keyFile ? { privateKey: readFileSync(opts.keyFile) } : {}),
      ...(opts.certFile ? { certChain: readFileSync(opts.certFile) } : {}),
    };
  }
  return new Etcd3(options);
}
