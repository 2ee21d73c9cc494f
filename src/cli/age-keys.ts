// What decrypts an encrypted snapshot, from a command's flags: --identity (age identity files, or Secrets) and
// --passphrase-file (files, or a Secret's key). A `secret:` source reads the cluster the command's --kubeconfig /
// --context name; during a control-plane recovery that is another cluster, or a file kept beside the runbook.
import { loadClusterConnection } from "../kube/kubeconfig.js";
import { rawClient, type RawClient } from "../kube/raw-client.js";
import { loadIdentities, loadPassphrases, SnapshotEncryptionError, type AgeIdentity, type SecretReader } from "../etcd/snapshot-encryption.js";

export interface AgeKeyOptions {
  /** --identity: files as age-keygen writes them, or secret:NAMESPACE/NAME[/KEY]. */
  identities?: readonly string[];
  /** --passphrase-file: files, or secret:NAMESPACE/NAME/KEY. */
  passphraseFiles?: readonly string[];
  kubeconfig?: string;
  context?: string;
  env: Readonly<Record<string, string | undefined>>;
  /** A client the command holds already; else one is made for `secret:` sources and closed. */
  client?: RawClient;
}

export async function loadAgeKeys(opts: AgeKeyOptions): Promise<AgeIdentity[]> {
  const sources = [...(opts.identities ?? []), ...(opts.passphraseFiles ?? [])];
  if (sources.length === 0) return [];
  let made: RawClient | undefined;
  const readSecret: SecretReader = async (namespace, name) => {
    const client = opts.client ?? (made ??= rawClient(await loadClusterConnection({ env: opts.env, ...(opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig } : {}), ...(opts.context ? { context: opts.context } : {}) })));
    const secret = await client.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`);
    if (!secret) return undefined;
    return Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64")]));
  };
  try {
    const identities = await loadIdentities(opts.identities ?? [], readSecret);
    const passphrases = await loadPassphrases(opts.passphraseFiles ?? [], readSecret);
    return [...identities, ...passphrases.map((passphrase) => ({ passphrase }))];
  } finally {
    made?.close();
  }
}

/**
 * The passphrase to encrypt new snapshots with (--encrypt-passphrase-file), read before etcd or the store is
 * touched; refused beside recipients, since an age file with a passphrase can have no other recipient.
 */
export async function encryptionPassphrase(opts: Omit<AgeKeyOptions, "identities" | "passphraseFiles"> & { encryptPassphraseFile?: string }, recipients: readonly string[]): Promise<string | undefined> {
  if (opts.encryptPassphraseFile === undefined) return undefined;
  if (recipients.length > 0) throw new SnapshotEncryptionError("--encrypt-passphrase-file and --encrypt-to/--encrypt-to-file exclude each other: age allows no recipient beside a passphrase");
  const [key] = await loadAgeKeys({ ...opts, passphraseFiles: [opts.encryptPassphraseFile] });
  return (key as { passphrase: string }).passphrase;
}
