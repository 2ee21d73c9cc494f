// What the kubeconfig's cluster says about itself, for choosing the recovery path: its identity (the kube-system
// namespace uid), or why it could not be asked — sorted into a problem on this side (never evidence that the control
// plane is lost) and an apiserver that refuses or times out, confirmed against the pair's recorded endpoints.
import { connect } from "node:net";
import type { ClusterFacts } from "../recovery/restore-plan.js";
import { hasClusterAccess, KubeconfigError, loadClusterConnection } from "../kube/kubeconfig.js";
import { ApiRequestError, rawClient } from "../kube/raw-client.js";
import { CLUSTER_IDENTITY_PATH, clusterIdentityOf } from "../velero/velero-api.js";

/** Socket errors that mean "nothing answers there": the only ones that count as evidence of a lost control plane. */
const NO_ANSWER = new Set(["ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ECONNRESET"]);

/** Sorts a failed GET: a local problem (TLS, credentials, DNS of a mistyped name), or no answer. */
export function classifyFailure(err: unknown): { local: string } | { noAnswer: string } {
  const message = (err as Error).message;
  if (err instanceof KubeconfigError) return { local: message };
  if (err instanceof ApiRequestError && err.status !== undefined) {
    if (err.status === 401 || err.status === 403) return { local: `the apiserver refuses the kubeconfig's credentials (${message})` };
    return { local: `the apiserver answered, with an error (${message})` };
  }
  const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
  const code = cause?.code ?? "";
  if (NO_ANSWER.has(code) || /no (complete )?answer within/.test(cause?.message ?? message)) return { noAnswer: message };
  if (/CERT|SSL|TLS|SELF_SIGNED|ALTNAME|EPROTO/i.test(code) || /certificate|self.signed|tls|ssl/i.test(cause?.message ?? "")) {
    return { local: `TLS with the apiserver failed (${code || cause?.message}): the kubeconfig's CA, server name or client certificate does not fit it (${message})` };
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return { local: `the apiserver's host name does not resolve (${message})` };
  return { local: message };
}

/** Whether anything accepts a TCP connection at the URL's host and port within timeoutMs. */
export function probe(url: string, timeoutMs: number): Promise<{ answers: boolean; detail: string }> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return Promise.resolve({ answers: false, detail: `${url}: not a URL` });
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(u.port || (u.protocol === "http:" ? 80 : 443));
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (answers: boolean, detail: string) => {
      socket.destroy();
      clearTimeout(timer);
      resolve({ answers, detail: `${url} ${detail}` });
    };
    const timer = setTimeout(() => done(false, `does not answer within ${timeoutMs} ms`), timeoutMs);
    socket.once("connect", () => done(true, "accepts connections"));
    socket.once("error", (err: NodeJS.ErrnoException) => done(!NO_ANSWER.has(err.code ?? ""), err.code === "ECONNREFUSED" ? "refuses connections" : `fails (${err.code ?? err.message})`));
  });
}

export interface ClusterFactsOptions {
  kubeconfig?: string;
  context?: string;
  env: Readonly<Record<string, string | undefined>>;
  /** The pair's recorded apiserver endpoints: probed when the kubeconfig's apiserver does not answer. */
  recordedEndpoints?: string[];
  timeoutMs?: number;
}

export async function clusterFacts(opts: ClusterFactsOptions): Promise<ClusterFacts> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  if (!opts.kubeconfig && !hasClusterAccess({ env: opts.env })) return { localProblem: "no kubeconfig (pass --kubeconfig, or set KUBECONFIG)" };
  let failure: ReturnType<typeof classifyFailure>;
  try {
    const client = rawClient(await loadClusterConnection({ env: opts.env, ...(opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig } : {}), ...(opts.context ? { context: opts.context } : {}) }), { timeoutMs });
    try {
      const uid = clusterIdentityOf(await client.get<{ metadata?: { uid?: string } }>(CLUSTER_IDENTITY_PATH, { deadlineMs: timeoutMs }));
      return uid !== undefined ? { identity: uid } : { localProblem: "the apiserver answers but has no kube-system namespace (is this a Kubernetes apiserver?)" };
    } finally {
      client.close();
    }
  } catch (err) {
    failure = classifyFailure(err);
  }
  if ("local" in failure) return { localProblem: failure.local };
  const recorded = opts.recordedEndpoints ?? [];
  if (recorded.length === 0) return { unreachable: failure.noAnswer };
  const probes = await Promise.all(recorded.map((e) => probe(e, timeoutMs)));
  return { unreachable: failure.noAnswer, recordedEndpoints: { lost: probes.every((p) => !p.answers), detail: probes.map((p) => p.detail).join("; ") } };
}
