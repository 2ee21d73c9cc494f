// A small client for etcd's Maintenance service (Status, Snapshot), over gRPC with the descriptor compiled from
// proto/etcd. Why not the etcd3 package: it reads its .proto files from disk when imported, which the single
// executable cannot provide, and twinsnap needs two calls of it.
// TLS as on kubeadm control planes: CA, client certificate and key (e.g. /etc/kubernetes/pki/etcd/).
import { readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { Wire } from "../grpc/wire.js";

export interface EtcdConnectionOptions {
  endpoints: string[];
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** How long to wait for an answer from a member, default 5 s. */
  dialTimeoutMs?: number;
}

export interface EtcdHeader {
  cluster_id: string;
  member_id: string;
  revision: string;
}

export interface EtcdStatus {
  header: EtcdHeader;
  version: string;
  dbSize: string;
  leader: string;
  errors: string[];
}

export interface SnapshotChunk {
  header: EtcdHeader | null;
  remaining_bytes: string;
  blob: Buffer;
}

export interface EtcdMaintenance {
  /** The member that answered first, with its status. */
  status(): Promise<EtcdStatus>;
  /** The snapshot stream of the member that answered status(); object mode, one SnapshotChunk per item. */
  snapshot(): Promise<Readable>;
  close(): void;
}

type MaintenanceClient = grpc.Client & {
  Status(req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: EtcdStatus) => void): void;
  Snapshot(req: object): grpc.ClientReadableStream<SnapshotChunk>;
};

export function connectEtcd(opts: EtcdConnectionOptions): EtcdMaintenance {
  if (opts.endpoints.length === 0) throw new Error("no etcd endpoints given");
  const credentials = opts.caFile
    ? grpc.credentials.createSsl(readFileSync(opts.caFile), opts.keyFile ? readFileSync(opts.keyFile) : null, opts.certFile ? readFileSync(opts.certFile) : null)
    : grpc.credentials.createInsecure();
  const clients = opts.endpoints.map((endpoint) => {
    const url = new URL(endpoint);
    if (url.protocol === "https:" && !opts.caFile) throw new Error(`${endpoint} uses TLS: pass the etcd CA (and client certificate and key)`);
    return { endpoint, client: new Wire.EtcdMaintenance(url.host, credentials, {
      "grpc.max_receive_message_length": -1,
      // HTTP/2's default 64 KiB window stalls etcd after two 32 KiB snapshot chunks until the client's window
      // update arrives: a large window lets a snapshot stream at the speed of the disk, as etcdctl's does.
      "grpc-node.flow_control_window": 1024 * 1024,
      // grpc's default backoff grows to 2 minutes while etcd is down; a coordinator should see it back within the
      // retries of one snapshot.
      "grpc.initial_reconnect_backoff_ms": 500,
      "grpc.max_reconnect_backoff_ms": 5000,
      // Pings on an open stream: a peer that vanished (half-open TCP) fails the call within ~40 s instead of never.
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
    }) as unknown as MaintenanceClient };
  });
  const timeout = opts.dialTimeoutMs ?? 5000;
  let chosen: MaintenanceClient | undefined;

  const statusOf = (c: MaintenanceClient) =>
    new Promise<EtcdStatus>((resolve, reject) => c.Status({}, { deadline: Date.now() + timeout }, (err, res) => (err ? reject(err) : resolve(res))));

  return {
    async status() {
      const failures: string[] = [];
      for (const { endpoint, client } of clients) {
        try {
          const s = await statusOf(client);
          chosen = client;
          return s;
        } catch (err) {
          failures.push(`${endpoint}: ${(err as Error).message}`);
        }
      }
      throw new Error(failures.join("; "));
    },
    async snapshot() {
      if (!chosen) await this.status();
      return chosen!.Snapshot({});
    },
    close() {
      for (const { client } of clients) client.close();
    },
  };
}
