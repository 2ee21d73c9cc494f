// Opening --store for a command: the AWS settings come from the environment here (the entry point), and a
// bsl:<name> store reads Velero's BackupStorageLocation through the cluster the command already talks to.
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { loadClusterConnection } from "../kube/kubeconfig.js";
import { rawClient, type RawClient } from "../kube/raw-client.js";
import { openStore, type AwsEnvironment, type OpenedStore } from "../store/open-store.js";

type Env = Readonly<Record<string, string | undefined>>;

export interface CliStoreOptions {
  store: string;
  env: Env;
  /** For bsl: — the kubeconfig the command was given (else the usual KUBECONFIG / in-cluster lookup). */
  kubeconfig?: string;
  /** --context, with --kubeconfig. */
  context?: string;
  veleroNamespace: string;
  /** A client the command holds already (coordinator, restore run); else one is made for bsl: and closed. */
  client?: RawClient;
}

/** The variables of the AWS default chain that twinsnap honours. */
export function awsEnvironment(env: Env): AwsEnvironment {
  const file = (path: string) => ({ path, read: () => readFile(path, "utf8") });
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  return {
    ...(region ? { region } : {}),
    ...(env.AWS_PROFILE ? { profile: env.AWS_PROFILE } : {}),
    ...(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? { credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) } }
      : {}),
    ...(env.AWS_SHARED_CREDENTIALS_FILE ? { sharedCredentialsFile: file(env.AWS_SHARED_CREDENTIALS_FILE) } : {}),
    homeCredentialsFile: file(join(env.HOME ?? homedir(), ".aws", "credentials")),
  };
}

export async function openCliStore(opts: CliStoreOptions): Promise<OpenedStore> {
  // The SDK warns on every run that its releases after January 2027 need Node 22; the single executable embeds
  // the Node it was built with, so a user can do nothing about it. (Set to "false" to see it.)
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const aws = awsEnvironment(opts.env);
  if (!opts.store.startsWith("bsl:")) return openStore(opts.store, { aws });
  const client = opts.client ?? rawClient(await loadClusterConnection({ env: opts.env, ...(opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig } : {}), ...(opts.context ? { context: opts.context } : {}) }));
  try {
    return await openStore(opts.store, { aws, cluster: { client, veleroNamespace: opts.veleroNamespace } });
  } finally {
    if (!opts.client) client.close();
  }
}
