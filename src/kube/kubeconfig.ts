// How twinsnap finds and authenticates to a cluster, the way kubectl does: an explicit kubeconfig, else
// KUBECONFIG (a list of files, the first definition of a name wins), else ~/.kube/config, else the in-cluster
// service account (how Velero's plugins run). Supports bearer tokens (also from a file, re-read on use as
// projected tokens rotate), client certificates, basic auth and exec credential plugins (EKS, GKE, AKS...).
// Written here rather than taken from @kubernetes/client-node: its config loader pulls in the whole generated
// API (14 MB of bundle, about 100 MiB more resident memory in every plugin process Velero starts).
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, delimiter } from "node:path";
import yaml from "js-yaml";
import { isPlainObject } from "../manifest/object.js";
import { ProxyConfigError, proxyFor } from "./proxy.js";

type Env = Readonly<Record<string, string | undefined>>;

export interface ClusterAccessOptions {
  kubeconfigPath?: string;
  /** The kubeconfig context to use instead of current-context (--context). */
  context?: string;
  env: Env;
}

export interface ClusterConnection {
  /** Where the connection came from, for messages. */
  source: string;
  server: string;
  ca?: Buffer;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  /** The default namespace of the context (or of the service account in a cluster). */
  namespace?: string;
  /** The HTTP proxy to tunnel through: the cluster's proxy-url, else HTTPS_PROXY/NO_PROXY (as kubectl). */
  proxy?: URL;
  /** Client certificate and key, if the user authenticates with them (exec plugins may supply them later). */
  clientCertificate(): Promise<{ cert: Buffer; key: Buffer } | undefined>;
  /** The Authorization header value, if any. */
  authorization(): Promise<string | undefined>;
}

export class KubeconfigError extends Error {
  override readonly name = "KubeconfigError";
}

const IN_CLUSTER = "/var/run/secrets/kubernetes.io/serviceaccount";
/** ClusterConnection.source of the in-cluster service account. */
export const IN_CLUSTER_SOURCE = "in-cluster service account";

/** Whether any cluster credentials exist at all; without them twinsnap does not guess an address. */
export function hasClusterAccess(opts: ClusterAccessOptions): boolean {
  if (opts.kubeconfigPath) return true;
  if (opts.env.KUBECONFIG) return true;
  if (opts.env.KUBERNETES_SERVICE_HOST) return true;
  return existsSync(join(opts.env.HOME ?? homedir(), ".kube", "config"));
}

export async function loadClusterConnection(opts: ClusterAccessOptions): Promise<ClusterConnection> {
  const files = opts.kubeconfigPath
    ? [opts.kubeconfigPath]
    : opts.env.KUBECONFIG
      ? opts.env.KUBECONFIG.split(delimiter).filter((f) => f !== "" && existsSync(f))
      : [join(opts.env.HOME ?? homedir(), ".kube", "config")].filter((f) => existsSync(f));
  if (files.length === 0) {
    if (opts.context) throw new KubeconfigError(`--context ${opts.context}: no kubeconfig found (set KUBECONFIG or pass --kubeconfig)`);
    if (opts.env.KUBERNETES_SERVICE_HOST) return withProxy(inCluster(opts.env), undefined, opts.env, "in-cluster");
    throw new KubeconfigError("no kubeconfig found (set KUBECONFIG or pass --kubeconfig) and not running in a cluster");
  }
  return fromKubeconfig(files, opts.env, opts.context);
}

function withProxy(connection: ClusterConnection, proxyUrl: string | undefined, env: Env, where: string): ClusterConnection {
  let server: URL;
  try {
    server = new URL(connection.server);
  } catch {
    throw new KubeconfigError(`${where}: server "${connection.server}" is not a URL (example: https://10.0.0.1:6443)`);
  }
  if (server.protocol !== "https:" && server.protocol !== "http:") throw new KubeconfigError(`${where}: server "${connection.server}" must be https:// (or http://)`);
  try {
    const proxy = proxyFor(server, proxyUrl, env, where);
    if (proxy) connection.proxy = proxy;
  } catch (err) {
    if (err instanceof ProxyConfigError) throw new KubeconfigError(err.message);
    throw err;
  }
  return connection;
}

function inCluster(env: Env): ClusterConnection {
  const host = env.KUBERNETES_SERVICE_HOST!;
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  const tokenFile = join(IN_CLUSTER, "token");
  return {
    source: IN_CLUSTER_SOURCE,
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    ca: readFileSync(join(IN_CLUSTER, "ca.crt")),
    insecureSkipTlsVerify: false,
    namespace: readOptional(join(IN_CLUSTER, "namespace"))?.trim(),
    clientCertificate: async () => undefined,
    authorization: async () => `Bearer ${readFileSync(tokenFile, "utf8").trim()}`,
  } as ClusterConnection;
}

interface Named {
  name: string;
  [key: string]: unknown;
}

function fromKubeconfig(files: string[], env: Env, chosenContext?: string): ClusterConnection {
  // Merge as kubectl does: the first file to define a name (or current-context) wins. Paths inside a file are
  // relative to that file.
  const clusters = new Map<string, { value: Record<string, unknown>; dir: string }>();
  const users = new Map<string, { value: Record<string, unknown>; dir: string }>();
  const contexts = new Map<string, Record<string, unknown>>();
  let current: string | undefined;
  for (const file of files) {
    let doc: unknown;
    try {
      doc = yaml.load(readFileSync(file, "utf8"));
    } catch (err) {
      throw new KubeconfigError(`cannot read kubeconfig ${file}: ${(err as Error).message.split("\n")[0]}`);
    }
    if (!isPlainObject(doc)) continue;
    const dir = dirname(file);
    current ??= typeof doc["current-context"] === "string" && doc["current-context"] !== "" ? doc["current-context"] : undefined;
    for (const c of list(doc.clusters)) if (!clusters.has(c.name)) clusters.set(c.name, { value: obj(c.cluster), dir });
    for (const u of list(doc.users)) if (!users.has(u.name)) users.set(u.name, { value: obj(u.user), dir });
    for (const c of list(doc.contexts)) if (!contexts.has(c.name)) contexts.set(c.name, obj(c.context));
  }
  const where = files.join(delimiter);
  if (chosenContext !== undefined) current = chosenContext;
  if (!current) throw new KubeconfigError(`${where} has no current-context (pass --context NAME; it defines ${[...contexts.keys()].join(", ") || "no contexts"})`);
  const context = contexts.get(current);
  if (!context) throw new KubeconfigError(`${where}: context "${current}" is not defined (it defines ${[...contexts.keys()].join(", ") || "no contexts"})`);
  const cluster = clusters.get(String(context.cluster));
  if (!cluster) throw new KubeconfigError(`${where}: cluster "${String(context.cluster)}" of context "${current}" is not defined`);
  const user = users.get(String(context.user ?? "")) ?? { value: {}, dir: cluster.dir };
  const c = cluster.value;
  const u = user.value;
  if (typeof c.server !== "string") throw new KubeconfigError(`${where}: cluster "${String(context.cluster)}" has no server`);
  if (u["auth-provider"] !== undefined) {
    throw new KubeconfigError(`${where}: user "${String(context.user)}" uses a legacy auth-provider; use an exec credential plugin instead (as kubectl now requires)`);
  }
  const exec = isPlainObject(u.exec) ? execCredentials(u.exec, user.dir, env) : undefined;
  const staticCert = dataOrFile(u["client-certificate-data"], u["client-certificate"], user.dir, where);
  const staticKey = dataOrFile(u["client-key-data"], u["client-key"], user.dir, where);
  const ca = dataOrFile(c["certificate-authority-data"], c["certificate-authority"], cluster.dir, where);
  return withProxy({
    source: `${where} (context ${current})`,
    server: c.server,
    ...(ca ? { ca } : {}),
    insecureSkipTlsVerify: c["insecure-skip-tls-verify"] === true,
    ...(typeof c["tls-server-name"] === "string" ? { tlsServerName: c["tls-server-name"] } : {}),
    ...(typeof context.namespace === "string" ? { namespace: context.namespace } : {}),
    async clientCertificate() {
      if (staticCert && staticKey) return { cert: staticCert, key: staticKey };
      const fromExec = exec ? await exec() : undefined;
      return fromExec?.cert && fromExec.key ? { cert: fromExec.cert, key: fromExec.key } : undefined;
    },
    async authorization() {
      if (typeof u.token === "string" && u.token !== "") return `Bearer ${u.token}`;
      if (typeof u.tokenFile === "string") return `Bearer ${readFileSync(resolvePath(u.tokenFile, user.dir), "utf8").trim()}`;
      if (typeof u.username === "string") return `Basic ${Buffer.from(`${u.username}:${String(u.password ?? "")}`).toString("base64")}`;
      const fromExec = exec ? await exec() : undefined;
      return fromExec?.token ? `Bearer ${fromExec.token}` : undefined;
    },
  }, typeof c["proxy-url"] === "string" && c["proxy-url"] !== "" ? c["proxy-url"] : undefined, env, `${where} (context ${current})`);
}

interface ExecResult {
  token?: string;
  cert?: Buffer;
  key?: Buffer;
  expires?: number;
}

/** client.authentication.k8s.io exec plugins: run the command, cache its credential until it expires. */
function execCredentials(spec: Record<string, unknown>, dir: string, env: Env): () => Promise<ExecResult> {
  let cached: ExecResult | undefined;
  let pending: Promise<ExecResult> | undefined;
  const command = String(spec.command ?? "");
  const args = Array.isArray(spec.args) ? spec.args.map(String) : [];
  const extraEnv = Object.fromEntries(list(spec.env).map((e) => [e.name, String(e.value ?? "")]));
  const cmd = command.includes("/") && !isAbsolute(command) ? join(dir, command) : command;
  const run = () =>
    new Promise<ExecResult>((resolve, reject) => {
      const apiVersion = typeof spec.apiVersion === "string" ? spec.apiVersion : "client.authentication.k8s.io/v1";
      const info = JSON.stringify({ apiVersion, kind: "ExecCredential", spec: { interactive: false } });
      execFile(cmd, args, { env: { ...env, ...extraEnv, KUBERNETES_EXEC_INFO: info }, timeout: 60_000 }, (err, stdout, stderr) => {
        if (err) return reject(new KubeconfigError(`credential plugin "${command}" failed: ${stderr.trim() || err.message}`));
        try {
          const status = obj(obj(JSON.parse(stdout)).status);
          const expires = typeof status.expirationTimestamp === "string" ? Date.parse(status.expirationTimestamp) : undefined;
          resolve({
            ...(typeof status.token === "string" ? { token: status.token } : {}),
            ...(typeof status.clientCertificateData === "string" ? { cert: Buffer.from(status.clientCertificateData) } : {}),
            ...(typeof status.clientKeyData === "string" ? { key: Buffer.from(status.clientKeyData) } : {}),
            ...(expires !== undefined && !Number.isNaN(expires) ? { expires } : {}),
          });
        } catch (e) {
          reject(new KubeconfigError(`credential plugin "${command}" printed no ExecCredential: ${(e as Error).message}`));
        }
      });
    });
  return async () => {
    if (cached && (cached.expires === undefined || cached.expires - Date.now() > 30_000)) return cached;
    pending ??= run().then(
      (r) => ((cached = r), (pending = undefined), r),
      (e: unknown) => {
        pending = undefined;
        throw e;
      },
    );
    return pending;
  };
}

function list(value: unknown): Named[] {
  return Array.isArray(value) ? value.filter((v): v is Named => isPlainObject(v) && typeof v.name === "string") : [];
}

function obj(value: unknown): Record<string, unknown> {
  return isPlainObject(value) ? value : {};
}

function resolvePath(path: string, dir: string): string {
  return isAbsolute(path) ? path : join(dir, path);
}

function dataOrFile(data: unknown, file: unknown, dir: string, where: string): Buffer | undefined {
  if (typeof data === "string" && data !== "") return Buffer.from(data, "base64");
  if (typeof file !== "string" || file === "") return undefined;
  try {
    return readFileSync(resolvePath(file, dir));
  } catch (err) {
    throw new KubeconfigError(`${where}: cannot read ${resolvePath(file, dir)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}
