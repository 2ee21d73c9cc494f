// Reaching the apiserver through an HTTP proxy, as kubectl does: the kubeconfig cluster's `proxy-url`, else
// HTTPS_PROXY / HTTP_PROXY with NO_PROXY (Go's net/http rules: loopback and localhost never go through a proxy
// from the environment). The connection is a CONNECT tunnel; TLS to the apiserver runs inside it, so the proxy
// sees neither credentials nor data.
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import tls from "node:tls";

type Env = Readonly<Record<string, string | undefined>>;

export class ProxyConfigError extends Error {
  override readonly name = "ProxyConfigError";
}

/** A proxy URL as given (scheme optional, as Go accepts "proxy:3128"); only http and https proxies tunnel. */
export function parseProxyUrl(text: string, where: string): URL {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    throw new ProxyConfigError(`${where}: "${text}" is not a proxy URL (example: http://proxy.example:3128)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ProxyConfigError(`${where}: proxy scheme ${url.protocol.replace(/:$/, "")} is not supported (http or https)`);
  }
  return url;
}

const unbracket = (host: string) => host.replace(/^\[(.*)\]$/, "$1");

function isLoopback(host: string): boolean {
  const h = unbracket(host).toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  if (isIP(h) === 6) return h === "::1" || h === "0:0:0:0:0:0:0:1";
  return false;
}

function ipv4ToInt(ip: string): number {
  return ip.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** One NO_PROXY entry against a host and port: "*", a host or domain (".example.com" or "example.com"), host:port, an IP or a CIDR. */
function noProxyMatches(entry: string, host: string, port: string): boolean {
  let e = entry.trim().toLowerCase();
  if (e === "") return false;
  if (e === "*") return true;
  const h = unbracket(host).toLowerCase();
  const cidr = /^([\d.]+)\/(\d+)$/.exec(e);
  if (cidr && isIP(h) === 4) {
    const bits = Number(cidr[2]);
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    return ((ipv4ToInt(h) & mask) >>> 0) === ((ipv4ToInt(cidr[1]!) & mask) >>> 0);
  }
  const withPort = /^(.*):(\d+)$/.exec(e);
  if (withPort && isIP(unbracket(e)) !== 6) {
    if (withPort[2] !== port) return false;
    e = withPort[1]!;
  }
  e = unbracket(e);
  if (e.startsWith("*.")) e = e.slice(1);
  if (e.startsWith(".")) return h.endsWith(e) || h === e.slice(1);
  return h === e || h.endsWith(`.${e}`);
}

/** The proxy for a request to `server`, or undefined for a direct connection. */
export function proxyFor(server: URL, kubeconfigProxy: string | undefined, env: Env, where: string): URL | undefined {
  if (kubeconfigProxy) return parseProxyUrl(kubeconfigProxy, `${where}: proxy-url`);
  const fromEnv = server.protocol === "https:" ? (env.HTTPS_PROXY ?? env.https_proxy) : (env.HTTP_PROXY ?? env.http_proxy);
  if (!fromEnv) return undefined;
  const port = server.port || (server.protocol === "https:" ? "443" : "80");
  if (isLoopback(server.hostname)) return undefined;
  const noProxy = env.NO_PROXY ?? env.no_proxy ?? "";
  if (noProxy.split(",").some((entry) => noProxyMatches(entry, server.hostname, port))) return undefined;
  return parseProxyUrl(fromEnv, server.protocol === "https:" ? "HTTPS_PROXY" : "HTTP_PROXY");
}

/**
 * An agent whose connections are CONNECT tunnels through `proxy`; for an https target, TLS (with the agent's CA,
 * client certificate and server name) runs inside the tunnel.
 */
export function tunnelAgent(proxy: URL, targetTls: boolean, agentOptions: https.AgentOptions): http.Agent {
  const agent = targetTls ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  const auth = proxy.username ? `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString("base64")}` : undefined;
  type Callback = (err: Error | null, socket?: import("node:net").Socket) => void;
  (agent as unknown as { createConnection: (o: https.RequestOptions & tls.ConnectionOptions, cb: Callback) => undefined }).createConnection = (options, callback) => {
    const host = String(options.host ?? options.hostname ?? "");
    const target = `${isIP(host) === 6 ? `[${host}]` : host}:${String(options.port)}`;
    const connect = (proxy.protocol === "https:" ? https : http).request({
      host: unbracket(proxy.hostname),
      port: proxy.port || (proxy.protocol === "https:" ? 443 : 80),
      method: "CONNECT",
      path: target,
      headers: { host: target, ...(auth ? { "proxy-authorization": auth } : {}) },
      agent: false,
    });
    let settled = false;
    const done: Callback = (err, socket) => {
      if (settled) return;
      settled = true;
      callback(err, socket);
    };
    connect.once("connect", (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        return done(new Error(`the proxy ${proxy.host} refused to connect to ${target} (HTTP ${res.statusCode ?? "?"})`));
      }
      if (!targetTls) return done(null, socket);
      const secure = tls.connect({ ...options, socket, host: unbracket(host) } as tls.ConnectionOptions);
      done(null, secure);
    });
    // A proxy that accepts and then says nothing must not hold the request forever.
    connect.setTimeout(30_000, () => connect.destroy(new Error("no answer to CONNECT within 30 s")));
    connect.once("error", (err) => done(new Error(`cannot reach the proxy ${proxy.host} (${err.message})`, { cause: err })));
    connect.end();
    return undefined;
  };
  return agent;
}
