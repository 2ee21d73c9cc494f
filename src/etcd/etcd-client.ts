// A small client for etcd's Maintenance service: Status over grpc-js with the descriptor compiled from
// proto/etcd, Snapshot over Node's HTTP/2 directly (snapshot-call.ts: it carries the whole database). Why not the
// etcd3 package: it reads its .proto files from disk when imported, which the single executable cannot provide,
// and twinsnap needs two calls of it.
// TLS as on kubeadm control planes: CA, client certificate and key (e.g. /etc/kubernetes/pki/etcd/).
import { readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { Wire } from "../grpc/wire.js";
import { snapshotCall, type EtcdTls } from "./snapshot-call.js";
import type { EtcdHeader } from "./snapshot-response-decoder.js";

export type { EtcdHeader, SnapshotChunk } from "./snapshot-response-decoder.js";

export interface EtcdConnectionOptions {
  endpoints: string[];
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** How long to wait for an answer from a member, default 5 s. */
  dialTimeoutMs?: number;
}

export interface EtcdStatus {
  header: EtcdHeader;
  version: string;
  dbSize: string;
  leader: string;
  errors: string[];
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
};

export function connectEtcd(opts: EtcdConnectionOptions): EtcdMaintenance {
  if (opts.endpoints.length === 0) throw new Error("no etcd endpoints given");
  const tls: EtcdTls | undefined = opts.caFile
    ? { ca: readFileSync(opts.caFile), ...(opts.certFile ? { cert: readFileSync(opts.certFile) } : {}), ...(opts.keyFile ? { key: readFileSync(opts.keyFile) } : {}) }
    : undefined;
  const credentials = tls ? grpc.credentials.createSsl(tls.ca, tls.key ?? null, tls.cert ?? null) : grpc.credentials.createInsecure();
  const clients = opts.endpoints.map((endpoint) => {
    const url = new URL(endpoint);
    if (url.protocol === "https:" && !opts.caFile) throw new Error(`${endpoint} uses TLS: pass the etcd CA (and client certificate and key)`);
    return { url, endpoint, client: new Wire.EtcdMaintenance(url.host, credentials, {
      // grpc's default backoff grows to 2 minutes while etcd is down; a coordinator should see it back within the
      // retries of one snapshot.
      "grpc.initial_reconnect_backoff_ms": 500,
      "grpc.max_reconnect_backoff_ms": 5000,
    }) as unknown as MaintenanceClient };
  });
  const timeout = opts.dialTimeoutMs ?? 5000;
  let chosen: (typeof clients)[number] | undefined;

  const statusOf = (c: MaintenanceClient) =>
    new Promise<EtcdStatus>((resolve, reject) => c.Status({}, { deadline: Date.now() + timeout }, (err, res) => (err ? reject(err) : resolve(res))));

  return {
    async status() {
      const failures: string[] = [];
      for (const candidate of clients) {
        const { endpoint, client } = candidate;
        try {
          const s = await statusOf(client);
          chosen = candidate;
          return s;
        } catch (err) {
          failures.push(`${endpoint}: ${(err as Error).message}`);
        }
      }
      throw new Error(failures.join("; "));
    },
    async snapshot() {
      if (!chosen) await this.status();
      // A stream that stalls (a half-open connection) is caught by the caller's idle watchdog (snapshot.ts).
      return snapshotCall(chosen!.url, tls);
    },
    close() {
      for (const { client } of clients) client.close();
    },
  };
}
