// The composition root of plugin mode: what runs when Velero starts the twinsnap executable.
// The only place in plugin mode that reads the environment and the flags Velero passes.
import { keepItemOnFailure } from "../actions/keep-item-on-failure.js";
import { backupPipeline } from "../actions/backup-pipeline.js";
import { readFileSync } from "node:fs";
import { cachedRules } from "../actions/rules-source.js";
import { stripRuntimeFieldsBackupAction, stripRuntimeFieldsRestoreAction, STRIP_RUNTIME_FIELDS } from "../actions/strip-runtime-fields.js";
import { RESTORE_ORDER, restoreOrderBackupAction, restoreOrderRestoreAction, type ClusterView } from "../actions/restore-order.js";
import { clusterView } from "../kube/cluster-view.js";
import { objectWriter } from "../kube/object-writer.js";
import type { VeleroObject } from "../actions/action.js";
import type { ClusterAccessCheck, ClusterAccessProblem } from "../actions/cluster-access.js";
import { RestoredLast, type ObjectWriter } from "../actions/restored-last.js";
import type { KubeObject } from "../manifest/object.js";
import { hasClusterAccess, loadClusterConnection, type ClusterAccessOptions } from "../kube/kubeconfig.js";
import { rawClient, type RawClient } from "../kube/raw-client.js";
import { pluginConfigMapReader } from "../kube/plugin-config-map.js";
import { createLogger, parseLogLevel, type Logger } from "../log/logger.js";
import { configFileReader } from "../velero-plugin/config-file-reader.js";
import { startGoPluginServer } from "../velero-plugin/go-plugin-server.js";
import { negotiateHandshake } from "../velero-plugin/handshake.js";
import { ActionRegistry, type ListedApi } from "../velero-plugin/registry.js";
import { addVeleroServices } from "../velero-plugin/velero-services.js";

type Env = Readonly<Record<string, string | undefined>>;

const SERVICE_ACCOUNT_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/** Velero passes its own server flags (--log-level=info --features= ...): read --log-level, ignore the rest. */
export function logLevelFlag(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith("--log-level=")) return arg.slice("--log-level=".length);
    if (arg === "--log-level") return argv[i + 1];
  }
  return undefined;
}

/**
 * Velero passes its own server arguments to every plugin (v1.18 client_builder.go: os.Args[2:]), so a Velero
 * started outside a cluster with `--kubeconfig FILE` hands that file to twinsnap too: use it, as Velero's own
 * plugins do. (`--kubecontext` is not followed: the kubeconfig's current context is used, and restore-order warns
 * when it cannot reach that cluster.)
 */
export function kubeconfigFlag(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith("--kubeconfig=")) return arg.slice("--kubeconfig=".length) || undefined;
    if (arg === "--kubeconfig") return argv[i + 1] || undefined;
  }
  return undefined;
}

function veleroNamespace(env: Env): string {
  if (env.VELERO_NAMESPACE) return env.VELERO_NAMESPACE;
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE_FILE, "utf8").trim();
  } catch {
    return "velero";
  }
}

/**
 * One apiserver client for the whole plugin process, made on first use (many plugin processes never need it);
 * a failed attempt (credentials not mounted yet, say) is tried again next time.
 */
function lazyClient(access: ClusterAccessOptions): () => Promise<RawClient> {
  let client: Promise<RawClient> | undefined;
  return () => {
    client ??= loadClusterConnection(access).then((c) => rawClient(c));
    client.catch(() => (client = undefined));
    return client;
  };
}

function configReader(access: ClusterAccessOptions, client: () => Promise<RawClient>, log: Logger) {
  const env = access.env;
  if (env.TWINSNAP_PLUGIN_CONFIG_FILE) return configFileReader(env.TWINSNAP_PLUGIN_CONFIG_FILE);
  if (!hasClusterAccess(access)) {
    log.debug("no cluster credentials: built-in stripping rules only");
    return undefined;
  }
  return pluginConfigMapReader({ client, namespace: veleroNamespace(env), pluginNames: [STRIP_RUNTIME_FIELDS, RESTORE_ORDER] });
}

function lazyClusterView(client: () => Promise<RawClient>): ClusterView {
  let view: ClusterView | undefined;
  const get = async () => (view ??= clusterView(await client()));
  return {
    resourceFor: async (group, kind) => (await get()).resourceFor(group, kind),
    exists: async (id) => (await get()).exists(id),
    isReady: async (id, readiness) => (await get()).isReady(id, readiness),
  };
}

/** Whether restore-order can reach the apiserver: never assumed, asked at most every 30 s (one GET /version). */
export function clusterAccessCheck(access: ClusterAccessOptions, client: () => Promise<RawClient>, now: () => number = Date.now): ClusterAccessCheck {
  if (!hasClusterAccess(access)) {
    const problem: ClusterAccessProblem = {
      cause: "the plugin has no cluster credentials (no --kubeconfig among the Velero server's arguments, no KUBECONFIG in its environment, no in-cluster service account, no ~/.kube/config)",
      fix: "run Velero in the cluster with its service account (as `velero install` does), or set KUBECONFIG in the Velero server's environment: its plugins inherit it",
    };
    return async () => problem;
  }
  let last: { at: number; answer: Promise<ClusterAccessProblem | undefined> } | undefined;
  return () => {
    if (last && now() - last.at < 30_000) return last.answer;
    const answer = client()
      .then((c) => c.get("/version"))
      .then(
        () => undefined,
        (err: unknown): ClusterAccessProblem => ({
          cause: `the plugin cannot reach the apiserver: ${(err as Error)?.message ?? String(err)}`,
          fix: "check the credentials and address Velero's environment gives its plugins (KUBECONFIG or the in-cluster service account) and that the apiserver is reachable from Velero",
        }),
      );
    last = { at: now(), answer };
    return answer;
  };
}

export function buildRegistry(env: Env, log: Logger, kubeconfigPath?: string): ActionRegistry {
  const ttlSeconds = Number(env.TWINSNAP_PLUGIN_CONFIG_TTL_SECONDS ?? "10");
  const cluster: ClusterAccessOptions = { env, ...(kubeconfigPath ? { kubeconfigPath } : {}) };
  const client = lazyClient(cluster);
  const rules = cachedRules({ reader: configReader(cluster, client, log), log, ttlMs: (Number.isFinite(ttlSeconds) ? ttlSeconds : 10) * 1000 });
  const stripPolicy = async () => (await rules()).strip;
  const stripOnRestore = stripRuntimeFieldsRestoreAction(stripPolicy, log);
  const registry = new ActionRegistry().register(keepItemOnFailure(stripOnRestore, log));
  // Restore order reads the cluster (discovery at backup, readiness and the deferred creations at restore).
  // It is always offered: without credentials, or with an apiserver it cannot reach, it passes items through
  // and warns once per backup and restore, so the backup's and restore's logs say so (cluster-access.ts).
  const access = clusterAccessCheck(cluster, client);
  const view = lazyClusterView(client);
  const dependencyRules = async () => (await rules()).dependencies;
  const restoredLast = new RestoredLast(lazyObjectWriter(client), log);
  // A deferred item skips the actions listed after restore-order; strip it here as that action would.
  const prepare = async (item: KubeObject, itemFromBackup: KubeObject, restore: VeleroObject) => (await stripOnRestore.execute({ item, itemFromBackup, restore })).item;
  registry.register(keepItemOnFailure(restoreOrderRestoreAction(view, log, { access, restoredLast, prepare }), log));
  // At backup, one action (listed as twinsnap.dev/strip-runtime-fields) runs every backup-side step in a single
  // round trip per item (actions/backup-pipeline.ts); at restore each action is listed under its own name.
  const backupSteps = [
    keepItemOnFailure(stripRuntimeFieldsBackupAction(stripPolicy, log), log),
    keepItemOnFailure(restoreOrderBackupAction(view, log, dependencyRules, access), log),
  ];
  return registry.register(backupPipeline(STRIP_RUNTIME_FIELDS, backupSteps));
}

function lazyObjectWriter(client: () => Promise<RawClient>): ObjectWriter {
  return {
    get: async (obj, resource) => objectWriter(await client()).get(obj, resource),
    create: async (obj, resource) => objectWriter(await client()).create(obj, resource),
    mergePatch: async (obj, resource, patch) => objectWriter(await client()).mergePatch(obj, resource, patch),
  };
}

export async function runPluginMode(env: Env, argv: readonly string[]): Promise<number> {
  let handshake;
  try {
    handshake = negotiateHandshake(env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
  const log = createLogger({ level: parseLogLevel(logLevelFlag(argv)), format: "hclog" });
  const listedApi: ListedApi = env.TWINSNAP_VELERO_API === "v1" ? "v1" : "v2";
  // ListPlugins must report the path Velero ran: the executable itself (argv[1] is the script or, in a
  // single executable, the executable), unless a wrapper says otherwise.
  const command = env.TWINSNAP_PLUGIN_COMMAND ?? process.argv[1] ?? process.execPath;
  const registry = buildRegistry(env, log, kubeconfigFlag(argv));

  const running = await startGoPluginServer({
    handshake,
    log,
    addServices: (server) => addVeleroServices(server, { registry, command, listedApi, log }),
  });

  // The host owns the plugin's lifetime: Ctrl-C in Velero's terminal reaches the whole process group,
  // and Velero stops its plugins itself (GRPCController.Shutdown), so SIGINT is ignored as go-plugin does.
  process.on("SIGINT", () => log.debug("interrupt ignored; the host stops the plugin"));
  process.on("SIGTERM", () => void running.stop("SIGTERM"));
  // Last line of defence: an error that escaped an action must not take the plugin down mid-backup.
  process.on("uncaughtException", (err) => log.error("unexpected error; the plugin keeps serving", { error: err.message }));
  process.on("unhandledRejection", (err) => log.error("unexpected rejection; the plugin keeps serving", { error: String(err) }));

  process.stdout.write(`${running.handshakeLine}\n`);
  log.debug("plugin serving", { socket: running.socketPath, api: listedApi });
  await running.stopped;
  return 0;
}
