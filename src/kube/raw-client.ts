// A minimal apiserver client for reads that the generated clients make awkward: discovery and GET/LIST of any
// resource by path. Authentication and TLS come from the kubeconfig (client-node's applyToHTTPSOptions).
import http from "node:http";
import https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { describeApiError } from "./api-error.js";

export class ApiRequestError extends Error {
  override readonly name = "ApiRequestError";
  constructor(
    readonly path: string,
    readonly status: number | undefined,
    message: string,
    readonly recoverable: boolean,
    options?: { cause?: unknown },
  ) {
    super(`GET ${path}: ${message}`, options);
  }
}

export interface RawClient {
  /** The decoded JSON body, or undefined for 404. */
  get<T>(path: string): Promise<T | undefined>;
}

export function rawClient(kc: KubeConfig, opts: { timeoutMs?: number } = {}): RawClient {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster");
  const base = new URL(cluster.server);
  const transport = base.protocol === "https:" ? https : http;
  return {
    async get<T>(path: string): Promise<T | undefined> {
      const options: https.RequestOptions = {
        method: "GET",
        hostname: base.hostname,
        port: base.port,
        path: `${base.pathname.replace(/\/$/, "")}${path}`,
        headers: { accept: "application/json" },
        timeout: opts.timeoutMs ?? 30_000,
      };
      await kc.applyToHTTPSOptions(options);
      return new Promise<T | undefined>((resolve, reject) => {
        const req = transport.request(options, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", (err) => reject(new ApiRequestError(path, res.statusCode, err.message, true, { cause: err })));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            const status = res.statusCode ?? 0;
            if (status === 404) return resolve(undefined);
            if (status < 200 || status >= 300) {
              const f = describeApiError({ code: status, body: text });
              return reject(new ApiRequestError(path, status, f.message, status >= 500 || status === 429));
            }
            try {
              resolve(JSON.parse(text) as T);
            } catch (err) {
              reject(new ApiRequestError(path, status, `invalid JSON (${(err as Error).message})`, false, { cause: err }));
            }
          });
        });
        req.on("timeout", () => req.destroy(new Error(`no answer within ${options.timeout} ms`)));
        req.on("error", (err) => reject(new ApiRequestError(path, undefined, `cannot reach the apiserver at ${cluster.server} (${err.message})`, true, { cause: err })));
        req.end();
      });
    },
  };
}
