// A minimal apiserver client for reads that the generated clients make awkward: discovery and GET/LIST of any
// resource by path, and server-side apply with the manifest sent byte for byte. TLS and authentication come from
// the cluster connection (kubeconfig.ts).
import http from "node:http";
import https from "node:https";
import type { ClusterConnection } from "./kubeconfig.js";
import { describeApiError } from "./api-error.js";
import { parseJsonText, stringifyJsonText } from "../manifest/json-text.js";

export class ApiRequestError extends Error {
  override readonly name = "ApiRequestError";
  constructor(
    /** "METHOD /path" */
    readonly path: string,
    readonly status: number | undefined,
    message: string,
    readonly recoverable: boolean,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${message}`, options);
  }
}

export interface RawClient {
  /** Closes kept-alive connections so a command can exit at once. */
  close(): void;
  /** The decoded JSON body, or undefined for 404. */
  get<T>(path: string): Promise<T | undefined>;
  /**
   * Any request with a JSON body; non-2xx answers (404 included) reject with ApiRequestError.
   * Bodies are sent as they are: no typed model in between may drop fields it does not know
   * (x-kubernetes-preserve-unknown-fields, custom resources' specs).
   */
  send<T>(method: "POST" | "PUT" | "PATCH" | "DELETE", path: string, body: unknown, contentType?: string): Promise<T>;
  /** A watch: the events the apiserver streams for `path` (with ?watch=1...), one JSON object each, until it ends. */
  watch<T>(path: string, signal?: AbortSignal): AsyncGenerator<T>;
}

export function rawClient(cluster: ClusterConnection, opts: { timeoutMs?: number } = {}): RawClient {
  const base = new URL(cluster.server);
  const transport = base.protocol === "https:" ? https : http;
  // Keep connections open: a TLS handshake per request would dominate an apply of thousands of objects.
  const agent = new transport.Agent({ keepAlive: true, maxSockets: 32 });
  /** Connection, TLS and authentication options shared by every request (credentials are fetched per request: tokens rotate). */
  const requestOptions = async (method: string, path: string, headers: Record<string, string | number>, extra: https.RequestOptions): Promise<https.RequestOptions> => {
    const options: https.RequestOptions = {
      method,
      hostname: base.hostname,
      port: base.port,
      path: `${base.pathname.replace(/\/$/, "")}${path}`,
      headers: { accept: "application/json", ...headers },
      rejectUnauthorized: !cluster.insecureSkipTlsVerify,
      ...(cluster.ca ? { ca: cluster.ca } : {}),
      ...(cluster.tlsServerName ? { servername: cluster.tlsServerName } : {}),
      ...extra,
    };
    const authorization = await cluster.authorization();
    if (authorization) (options.headers as Record<string, string>).authorization = authorization;
    const certificate = await cluster.clientCertificate();
    if (certificate) Object.assign(options, certificate);
    return options;
  };
  const request = async <T>(method: string, path: string, body: unknown, contentType: string, notFoundIsUndefined: boolean): Promise<T | undefined> => {
    const payload = body === undefined ? undefined : Buffer.from(stringifyJsonText(body));
    const options = await requestOptions(method, path, payload ? { "content-type": contentType, "content-length": payload.length } : {}, { timeout: opts.timeoutMs ?? 30_000, agent });
    const what = `${method} ${path}`;
    return new Promise<T | undefined>((resolve, reject) => {
      const req = transport.request(options, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) => reject(new ApiRequestError(what, res.statusCode, err.message, true, { cause: err })));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status === 404 && notFoundIsUndefined) return resolve(undefined);
          if (status < 200 || status >= 300) {
            const f = describeApiError({ code: status, body: text });
            return reject(new ApiRequestError(what, status, f.message, status >= 500 || status === 429));
          }
          try {
            resolve(text === "" ? undefined : (parseJsonText(text) as T));
          } catch (err) {
            reject(new ApiRequestError(what, status, `invalid JSON (${(err as Error).message})`, false, { cause: err }));
          }
        });
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${options.timeout} ms`)));
      req.on("error", (err) => reject(new ApiRequestError(what, undefined, `cannot reach the apiserver at ${cluster.server} (${err.message})`, true, { cause: err })));
      req.end(payload);
    });
  };
  async function* watch<T>(path: string, signal?: AbortSignal): AsyncGenerator<T> {
    // Its own connection (no shared agent, no timeout): a watch stays open as long as the apiserver keeps it.
    const options = await requestOptions("GET", path, {}, signal ? { signal } : {});
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = transport.request(options, resolve);
      req.on("error", (err) => reject(new ApiRequestError(`WATCH ${path}`, undefined, `cannot reach the apiserver at ${cluster.server} (${err.message})`, true, { cause: err })));
      req.end();
    });
    if ((res.statusCode ?? 0) >= 300) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      const f = describeApiError({ code: res.statusCode, body: Buffer.concat(chunks).toString() });
      throw new ApiRequestError(`WATCH ${path}`, res.statusCode, f.message, true);
    }
    let buffered = "";
    try {
      for await (const chunk of res) {
        buffered += (chunk as Buffer).toString("utf8");
        let nl: number;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line !== "") yield parseJsonText(line) as T;
        }
      }
    } catch (err) {
      if (signal?.aborted) return;
      throw new ApiRequestError(`WATCH ${path}`, undefined, `the watch broke (${(err as Error).message})`, true, { cause: err });
    }
  }
  return {
    watch,
    close: () => agent.destroy(),
    get: <T>(path: string) => request<T>("GET", path, undefined, "", true),
    send: async <T>(method: "POST" | "PUT" | "PATCH" | "DELETE", path: string, body: unknown, contentType = "application/json") =>
      (await request<T>(method, path, body, contentType, false)) as T,
  };
}
