// A minimal apiserver client for reads that the generated clients make awkward: discovery and GET/LIST of any
// resource by path, and server-side apply with the manifest sent byte for byte. TLS and authentication come from
// the cluster connection (kubeconfig.ts).
import http from "node:http";
import https from "node:https";
import type { ClusterConnection } from "./kubeconfig.js";
import { apiErrorMessage } from "./api-error.js";
import { parseJsonText, stringifyJsonText } from "../manifest/json-text.js";
import { tunnelAgent } from "./proxy.js";

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

/** Per request: a bound on the whole request (not only on silence), and a signal that abandons it. */
export interface RequestOptions {
  /** The request fails with a recoverable ApiRequestError after this long, whatever it is waiting for. */
  deadlineMs?: number;
  signal?: AbortSignal;
}

export interface RawClient {
  /** Closes kept-alive connections so a command can exit at once. */
  close(): void;
  /** The decoded JSON body, or undefined for 404. */
  get<T>(path: string, opts?: RequestOptions): Promise<T | undefined>;
  /**
   * Any request with a JSON body; non-2xx answers (404 included) reject with ApiRequestError.
   * Bodies are sent as they are: no typed model in between may drop fields it does not know
   * (x-kubernetes-preserve-unknown-fields, custom resources' specs).
   */
  send<T>(method: "POST" | "PUT" | "PATCH" | "DELETE", path: string, body: unknown, contentType?: string, opts?: RequestOptions): Promise<T>;
  /**
   * A watch: the events the apiserver streams for `path` (with ?watch=1...), one JSON object each, until it ends.
   * A watch silent for longer than `idleMs` (default 5 minutes) is a half-open connection: it fails
   * (recoverable), so the caller lists again instead of waiting forever.
   */
  watch<T>(path: string, signal?: AbortSignal, opts?: { idleMs?: number }): AsyncGenerator<T>;
}

export function rawClient(cluster: ClusterConnection, opts: { timeoutMs?: number } = {}): RawClient {
  const base = new URL(cluster.server);
  const tlsTarget = base.protocol === "https:";
  const transport = tlsTarget ? https : http;
  // An IPv6 literal comes bracketed in the URL ("[::1]"); the socket wants the bare address.
  const hostname = base.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = base.port || (tlsTarget ? "443" : "80");
  // Keep connections open: a TLS handshake per request would dominate an apply of thousands of objects. TCP
  // keepalive makes a connection whose peer vanished fail instead of hanging.
  const agentOptions = { keepAlive: true, keepAliveMsecs: 15_000, maxSockets: 32 };
  const agent = cluster.proxy ? tunnelAgent(cluster.proxy, tlsTarget, agentOptions) : new transport.Agent(agentOptions);
  const through = cluster.proxy ? ` through the proxy ${cluster.proxy.host}` : "";
  /** Connection, TLS and authentication options shared by every request (credentials are fetched per request: tokens rotate). */
  const requestOptions = async (method: string, path: string, headers: Record<string, string | number>, extra: https.RequestOptions): Promise<https.RequestOptions> => {
    const options: https.RequestOptions = {
      method,
      hostname,
      port,
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
  const request = async <T>(method: string, path: string, body: unknown, contentType: string, notFoundIsUndefined: boolean, per: RequestOptions = {}): Promise<T | undefined> => {
    const what = `${method} ${path}`;
    if (per.signal?.aborted) throw new ApiRequestError(what, undefined, "abandoned before it was sent", true);
    const payload = body === undefined ? undefined : Buffer.from(stringifyJsonText(body));
    const options = await requestOptions(method, path, payload ? { "content-type": contentType, "content-length": payload.length } : {}, { timeout: opts.timeoutMs ?? 30_000, agent });
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
            return reject(new ApiRequestError(what, status, apiErrorMessage(status, text), status >= 500 || status === 429));
          }
          try {
            resolve(text === "" ? undefined : (parseJsonText(text) as T));
          } catch (err) {
            reject(new ApiRequestError(what, status, `invalid JSON (${(err as Error).message})`, false, { cause: err }));
          }
        });
      });
      // A deadline bounds the whole request (a connection that stalls mid-answer included), unlike the socket's
      // idle timeout; the caller's signal abandons it. Either destroys the socket: nothing is sent late.
      const deadline = per.deadlineMs !== undefined ? setTimeout(() => req.destroy(new Error(`no complete answer within ${per.deadlineMs} ms`)), Math.max(0, per.deadlineMs)) : undefined;
      const abandon = () => req.destroy(new Error("abandoned by the caller"));
      per.signal?.addEventListener("abort", abandon, { once: true });
      req.once("close", () => {
        clearTimeout(deadline);
        per.signal?.removeEventListener("abort", abandon);
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${options.timeout} ms`)));
      req.on("error", (err) => reject(new ApiRequestError(what, undefined, `cannot reach the apiserver at ${cluster.server}${through} (${err.message})`, true, { cause: err })));
      req.end(payload);
    });
  };
  async function* watch<T>(path: string, signal?: AbortSignal, watchOpts: { idleMs?: number } = {}): AsyncGenerator<T> {
    const idleMs = watchOpts.idleMs ?? 300_000;
    // Its own connection (no shared agent): a watch stays open as long as the apiserver keeps it, but a watch
    // silent for idleMs (no event, no bookmark) is taken for a half-open connection and fails.
    const watchAgent = cluster.proxy ? tunnelAgent(cluster.proxy, tlsTarget, { keepAlive: false }) : false;
    const options = await requestOptions("GET", path, {}, { agent: watchAgent, timeout: idleMs, ...(signal ? { signal } : {}) });
    const what = `WATCH ${path}`;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = transport.request(options, resolve);
      req.on("socket", (socket) => socket.setKeepAlive(true, 15_000));
      req.on("timeout", () => req.destroy(new Error(`nothing received for ${idleMs} ms`)));
      req.on("error", (err) => reject(new ApiRequestError(what, undefined, signal?.aborted ? "stopped" : `cannot reach the apiserver at ${cluster.server}${through} (${err.message})`, true, { cause: err })));
      req.end();
    });
    if ((res.statusCode ?? 0) >= 300) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      const message = apiErrorMessage(res.statusCode ?? 0, Buffer.concat(chunks).toString());
      throw new ApiRequestError(what, res.statusCode, message, true);
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
      throw new ApiRequestError(what, undefined, `the watch broke (${(err as Error).message})`, true, { cause: err });
    } finally {
      res.destroy();
    }
  }
  return {
    watch,
    close: () => agent.destroy(),
    get: <T>(path: string, per?: RequestOptions) => request<T>("GET", path, undefined, "", true, per),
    send: async <T>(method: "POST" | "PUT" | "PATCH" | "DELETE", path: string, body: unknown, contentType = "application/json", per?: RequestOptions) =>
      (await request<T>(method, path, body, contentType, false, per)) as T,
  };
}
