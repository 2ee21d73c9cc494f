// `--store bsl:<name>`: the bucket of Velero's BackupStorageLocation <name>, configured the way
// velero-plugin-for-aws reads it (spec.objectStorage and spec.config), with credentials from the Secret the
// BSL names, else the file the entry point was given, else Velero's default Secret (cloud-credentials, key
// cloud: what `velero install --secret-file` creates). twinsnap writes only under <prefix>/plugins/twinsnap/:
// Velero marks a location Unavailable when its prefix holds other top-level directories.
import { credentialsFromFile } from "./aws-credentials-file.js";
import type { S3StoreOptions, StaticCredentials } from "./s3-options.js";
import { parseBoolean, parseChecksumAlgorithm, parseEndpoint } from "./store-url.js";
import { isRecoverable } from "../recoverable.js";

export interface BackupStorageLocation {
  metadata: { name: string; namespace?: string };
  spec?: {
    provider?: string;
    objectStorage?: { bucket?: string; prefix?: string; caCert?: string };
    config?: Record<string, string>;
    credential?: { name?: string; key?: string };
  };
}

/** The one thing a BSL store needs from the cluster: a GET (RawClient has it). */
export interface ClusterReader {
  /** The decoded JSON body, or undefined for 404. */
  get<T>(path: string): Promise<T | undefined>;
}

export class BackupStorageLocationError extends Error {
  override readonly name = "BackupStorageLocationError";
  constructor(
    /** "velero/default" */
    readonly location: string,
    problem: string,
    /** What the operator can do about it. */
    readonly fix: string,
    readonly recoverable = false,
    options?: { cause?: unknown },
  ) {
    super(`BackupStorageLocation ${location}: ${problem}; ${fix}`, options);
  }
}

export const TWINSNAP_SUBDIRECTORY = "plugins/twinsnap";
export const DEFAULT_CREDENTIALS_SECRET = { name: "cloud-credentials", key: "cloud" };
const PROVIDERS = new Set(["aws", "velero.io/aws"]);
/** spec.config keys twinsnap cannot honour: writing without them would silently weaken what the user asked for. */
const REFUSED_CONFIG: Record<string, string> = {
  customerKeyEncryptionFile: "customer-provided encryption keys (SSE-C) are not supported by twinsnap's store yet",
  customerKeyEncryptionSecret: "customer-provided encryption keys (SSE-C) are not supported by twinsnap's store yet",
};

export type CredentialsSource = { kind: "secret"; namespace: string; name: string; key: string } | { kind: "file"; path: string };

/** Where the credentials come from, in Velero's order: the BSL's own Secret, the given file, the default Secret. */
export function credentialsSource(bsl: BackupStorageLocation, namespace: string, explicitFile: string | undefined): CredentialsSource {
  const ref = bsl.spec?.credential;
  if (ref?.name) return { kind: "secret", namespace, name: ref.name, key: ref.key ?? DEFAULT_CREDENTIALS_SECRET.key };
  if (explicitFile) return { kind: "file", path: explicitFile };
  return { kind: "secret", namespace, ...DEFAULT_CREDENTIALS_SECRET };
}

/** The S3 store a BSL describes, credentials aside. Pure: the BSL is a plain object. */
export function s3OptionsFromBackupStorageLocation(bsl: BackupStorageLocation, credentials: StaticCredentials | undefined): S3StoreOptions {
  const where = `${bsl.metadata.namespace ?? "?"}/${bsl.metadata.name}`;
  const problem = (message: string) => new BackupStorageLocationError(where, message, "fix the BackupStorageLocation (kubectl edit backupstoragelocation " + bsl.metadata.name + ")");
  const provider = bsl.spec?.provider ?? "";
  if (!PROVIDERS.has(provider)) {
    throw new BackupStorageLocationError(where, `its provider is "${provider}"`, "twinsnap's bsl: store supports provider aws (velero-plugin-for-aws, also for S3-compatible servers); for another provider give --store s3://... or file://...");
  }
  const bucket = bsl.spec?.objectStorage?.bucket;
  if (!bucket) throw problem("spec.objectStorage.bucket is empty");
  const config = bsl.spec?.config ?? {};
  for (const [key, why] of Object.entries(REFUSED_CONFIG)) if (config[key]) throw new BackupStorageLocationError(where, `spec.config.${key} is set: ${why}`, "use --store s3://... with server-side encryption (kmsKeyId) instead");
  const prefix = (bsl.spec?.objectStorage?.prefix ?? "").replace(/^\/+|\/+$/g, "");
  const endpoint = config.s3Url ? parseEndpoint(config.s3Url, (m) => problem(`spec.config.s3Url: ${m}`)) : undefined;
  const caCert = bsl.spec?.objectStorage?.caCert ? Buffer.from(bsl.spec.objectStorage.caCert, "base64").toString("utf8") : undefined;
  const bool = (key: string) => {
    const value = config[key];
    if (value === undefined || value === "") return false;
    try {
      return parseBoolean(where, key, value);
    } catch {
      throw problem(`spec.config.${key} must be "true" or "false", not "${value}"`);
    }
  };
  // Velero's plugin sends CRC32 unless checksumAlgorithm is given; "" turns checksums off.
  const checksumAlgorithm = config.checksumAlgorithm === undefined ? "CRC32" : parseChecksumAlgorithm(config.checksumAlgorithm, (m) => problem(`spec.config.${m}`));
  return {
    bucket,
    prefix: prefix === "" ? TWINSNAP_SUBDIRECTORY : `${prefix}/${TWINSNAP_SUBDIRECTORY}`,
    // Without a region Velero asks AWS for the bucket's; the SDK follows the region redirect the same way.
    region: config.region || "us-east-1",
    forcePathStyle: bool("s3ForcePathStyle"),
    checksumAlgorithm,
    insecureSkipTlsVerify: bool("insecureSkipTLSVerify"),
    ...(endpoint ? { endpoint } : {}),
    ...(caCert ? { caCert } : {}),
    ...(config.kmsKeyId ? { kmsKeyId: config.kmsKeyId } : {}),
    ...(config.serverSideEncryption ? { serverSideEncryption: config.serverSideEncryption } : {}),
    ...(credentials ? { credentials } : {}),
  };
}

/** The profile velero-plugin-for-aws uses in the credentials file. */
export function credentialsProfile(bsl: BackupStorageLocation): string {
  return bsl.spec?.config?.profile || "default";
}

/** Reads the BSL and its credentials through the cluster and returns the S3 store's options. */
export async function resolveBackupStorageLocation(opts: {
  client: ClusterReader;
  namespace: string;
  name: string;
  /** A credentials file given to the entry point (AWS_SHARED_CREDENTIALS_FILE), read only if used. */
  credentialsFile?: { path: string; read(): Promise<string> };
}): Promise<S3StoreOptions> {
  const where = `${opts.namespace}/${opts.name}`;
  const ns = encodeURIComponent(opts.namespace);
  let bsl: BackupStorageLocation | undefined;
  try {
    bsl = await opts.client.get<BackupStorageLocation>(`/apis/velero.io/v1/namespaces/${ns}/backupstoragelocations/${encodeURIComponent(opts.name)}`);
  } catch (err) {
    const status = (err as { status?: number }).status;
    throw new BackupStorageLocationError(
      where,
      `cannot be read (${(err as Error).message})`,
      status === 403
        ? "grant get on backupstoragelocations.velero.io in Velero's namespace"
        : status === 404 || /could not find the requested resource/i.test((err as Error).message)
          ? "is Velero installed in this cluster? (its CRDs come with velero install)"
          : "check the kubeconfig and --velero-namespace",
      isRecoverable(err),
      { cause: err },
    );
  }
  if (!bsl) throw new BackupStorageLocationError(where, "does not exist", `list them with: kubectl get backupstoragelocations -n ${opts.namespace} (or pass --velero-namespace)`);
  bsl.metadata.namespace ??= opts.namespace;
  const source = credentialsSource(bsl, opts.namespace, opts.credentialsFile?.path);
  // Validate the BSL before touching its Secret: a wrong provider is the likelier mistake.
  s3OptionsFromBackupStorageLocation(bsl, undefined);
  const credentials = await readCredentials(opts, bsl, source, where);
  return s3OptionsFromBackupStorageLocation(bsl, credentials);
}

async function readCredentials(
  opts: { client: ClusterReader; credentialsFile?: { path: string; read(): Promise<string> } },
  bsl: BackupStorageLocation,
  source: CredentialsSource,
  where: string,
): Promise<StaticCredentials | undefined> {
  const profile = credentialsProfile(bsl);
  if (source.kind === "file") {
    let text: string;
    try {
      text = await opts.credentialsFile!.read();
    } catch (err) {
      throw new BackupStorageLocationError(where, `the credentials file ${source.path} cannot be read (${(err as Error).message})`, "fix AWS_SHARED_CREDENTIALS_FILE", false, { cause: err });
    }
    return wrapCredentials(() => credentialsFromFile(text, profile, source.path), where);
  }
  const secret = `Secret ${source.namespace}/${source.name}`;
  const explicit = !!bsl.spec?.credential?.name;
  let data: { data?: Record<string, string> } | undefined;
  try {
    data = await opts.client.get<{ data?: Record<string, string> }>(`/api/v1/namespaces/${encodeURIComponent(source.namespace)}/secrets/${encodeURIComponent(source.name)}`);
  } catch (err) {
    const status = (err as { status?: number }).status;
    throw new BackupStorageLocationError(
      where,
      `its credentials ${secret} cannot be read (${(err as Error).message})`,
      status === 403
        ? `grant get on secrets named ${source.name} in ${source.namespace} (the chart does when coordinator.store is bsl:...), or give the credentials file with AWS_SHARED_CREDENTIALS_FILE`
        : "check the connection to the cluster",
      isRecoverable(err),
      { cause: err },
    );
  }
  if (!data) {
    // No Secret at all and none named by the BSL: Velero runs on the default AWS chain then (velero install
    // --no-secret, IAM roles for service accounts), and so does twinsnap.
    if (!explicit) return undefined;
    throw new BackupStorageLocationError(where, `spec.credential names ${secret}, which does not exist`, `create it (kubectl create secret generic ${source.name} -n ${source.namespace} --from-file=${source.key}=credentials) or fix spec.credential`);
  }
  const encoded = data.data?.[source.key];
  if (encoded === undefined) {
    throw new BackupStorageLocationError(where, `${secret} has no key "${source.key}" (it has ${Object.keys(data.data ?? {}).join(", ") || "none"})`, explicit ? "fix spec.credential.key" : `put the AWS credentials file under key ${source.key}, as velero install --secret-file does`);
  }
  const text = Buffer.from(encoded, "base64").toString("utf8");
  return wrapCredentials(() => credentialsFromFile(text, profile, `${secret} key ${source.key}`), where);
}

function wrapCredentials(read: () => StaticCredentials, where: string): StaticCredentials {
  try {
    return read();
  } catch (err) {
    throw new BackupStorageLocationError(where, (err as Error).message, "fix the credentials file, or spec.config.profile", false, { cause: err });
  }
}
