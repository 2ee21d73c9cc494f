// `twinsnap doctor`: is twinsnap doing its job in the running Velero? Checks, each with what to do:
// the plugin's actions are loaded (ServerStatusRequest), and restore-order was on for the latest backup and the
// latest restore (their logs, where the plugin warns once when it had no cluster access; cluster-access.ts).
import { loadClusterConnection } from "../kube/kubeconfig.js";
import { rawClient, type RawClient } from "../kube/raw-client.js";
import { veleroLog, veleroPlugins, type VeleroRequestOptions } from "../velero/velero-requests.js";
import { veleroPath } from "../velero/velero-api.js";
import { formatReport, type ReportFormat } from "./report.js";

export interface DoctorOptions {
  kubeconfig?: string;
  context?: string;
  veleroNamespace: string;
  output?: ReportFormat;
  timeoutMs: number;
  env: Readonly<Record<string, string | undefined>>;
}

export type CheckState = "ok" | "warn" | "fail";
export interface CheckResult {
  check: string;
  state: CheckState;
  detail: string;
}

const ACTIONS = ["twinsnap.dev/strip-runtime-fields", "twinsnap.dev/restore-order"];
const OFF = /twinsnap\.dev\/restore-order is OFF for (backup|restore) \S+: [^"]*/;

interface Run {
  metadata: { name: string; creationTimestamp?: string };
  status?: { phase?: string };
}

async function latest(client: RawClient, namespace: string, resource: "backups" | "restores"): Promise<Run | undefined> {
  const list = await client.get<{ items: Run[] }>(veleroPath(namespace, resource));
  const finished = (list?.items ?? []).filter((r) => ["Completed", "PartiallyFailed", "Failed"].includes(r.status?.phase ?? ""));
  return finished.sort((a, b) => (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? "")).at(-1);
}

/** The checks, against a Velero reachable through `req`. */
export async function doctorChecks(req: VeleroRequestOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const plugins = await veleroPlugins(req);
  for (const name of ACTIONS) {
    const kinds = plugins.filter((p) => p.name === name).map((p) => p.kind);
    results.push(
      kinds.length > 0
        ? { check: `${name} loaded`, state: "ok", detail: kinds.join(", ") }
        : { check: `${name} loaded`, state: "fail", detail: `the Velero server in ${req.namespace} does not list it: add the plugin (velero plugin add <registry>/twinsnap-velero-plugin:<version>)` },
    );
  }
  for (const [resource, kind, noun] of [["backups", "BackupLog", "backup"], ["restores", "RestoreLog", "restore"]] as const) {
    const check = `restore-order in the latest ${noun}`;
    const run = await latest(req.client, req.namespace, resource);
    if (!run) {
      results.push({ check, state: "ok", detail: `no finished ${noun} yet; run doctor again after one` });
      continue;
    }
    const log = await veleroLog(req, { kind, name: run.metadata.name });
    const off = OFF.exec(log)?.[0]?.replace(/\\"/g, '"');
    results.push(off ? { check, state: "warn", detail: off } : { check, state: "ok", detail: `on for ${noun} ${run.metadata.name} (no warning in its log)` });
  }
  return results;
}

export async function doctorCommand(opts: DoctorOptions, io: { out: (s: string) => void }): Promise<number> {
  const client = rawClient(await loadClusterConnection({ env: opts.env, ...(opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig } : {}), ...(opts.context ? { context: opts.context } : {}) }));
  try {
    const results = await doctorChecks({ client, namespace: opts.veleroNamespace, timeoutMs: opts.timeoutMs });
    io.out(formatReport(opts.output ?? "text", { checks: results }, () => results.map((r) => `${r.state.toUpperCase().padEnd(4)}  ${r.check}: ${r.detail}\n`).join("")));
    return results.every((r) => r.state === "ok") ? 0 : 1;
  } finally {
    client.close();
  }
}
