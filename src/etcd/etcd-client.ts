// A small client for etcd's Maintenance service (Status, Snapshot), as gRPC over Node's HTTP/2 (etcd-call.ts).
// Why not the etcd3 package: it reads its .proto files from disk when imported, which the single executable
// cannot provide, and twinsnap needs two calls of it.
// TLS as on kubeadm control planes: CA, client certificate and key (e.g. /etc/kubernetes/pki/etcd/).
import { readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import type { ChunkPool } from "./chunk-pool.js";
import { snapshotCall, statusCall, type EtcdTls } from "./etcd-call.js";
import type { EtcdStatus } from "./etcd-wire.js";

export type { EtcdHeader, EtcdStatus } from "./etcd-wire.js";
export type { SnapshotChunk } from "./snapshot-response-decoder.js";

export interface EtcdConnectionOptions {
  endpoints: string[];
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** How long to wait for an answer from a member, default 5 s. */
  dialTimeoutMs?: number;
}

export interface EtcdMaintenance {
  /** The member that answered first, with its status. */
  status(): Promise<EtcdStatus>;
  /**
   * The snapshot stream of the member that answered status(); object mode, one SnapshotChunk per item, their
   * blobs from `pool` when one is given (the consumer gives them back: chunk-pool.ts).
   */
  snapshot(options?: { pool?: ChunkPool }): Promise<Readable>;
  close(): void;
}

export function connectEtcd(opts: EtcdConnectionOptions): EtcdMaintenance {
  if (opts.endpoints.length === 0) throw new Error("no etcd endpoints given");
  const tls: EtcdTls | undefined = opts.caFile
    ? { ca: readFileSync(opts.caFile), ...(opts.certFile ? { cert: readFileSync(opts.certFile) } : {}), ...(opts.keyFile ? { key: readFileSync(opts.keyFile) } : {}) }
    : undefined;
  const members = opts.endpoints.map((endpoint) => {
    const url = new URL(endpoint);
    if (url.protocol === "https:" && !opts.caFile) throw new Error(`${endpoint} uses TLS: pass the etcd CA (and client certificate and key)`);
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error(`${endpoint} is not an etcd client URL (http:// or https://)`);
    return { url, endpoint };
  });
  const timeout = opts.dialTimeoutMs ?? 5000;
  let chosen: URL | undefined;

  return {
    // Each call opens its own connection: a member that restarted between two snapshots is simply dialled again.
    async status() {
      const failures: string[] = [];
      for (const { url, endpoint } of members) {
        try {
          const s = await statusCall(url, tls, timeout);
          chosen = url;
          return s;
        } catch (err) {
          failures.push(`${endpoint}: ${(err as Error).message}`);
        }
      }
      throw new Error(failures.join("; "));
    },
    async snapshot(options) {
      if (!chosen) await this.status();
      // A stream that stalls (a half-open connection) is caught by the caller's idle watchdog (snapshot.ts).
      return snapshotCall(chosen!, tls, options?.pool);
    },
    close() {
      // nothing held open between calls
    },
  };
}
