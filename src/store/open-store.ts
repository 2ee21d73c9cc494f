// Stores by URL (store-url.ts has the forms): file:///path is the embedded default; s3://bucket/prefix and
// bsl:<name> (Velero's BackupStorageLocation) are S3. The S3 SDK is imported only when an S3 store is opened:
// the plugin process Velero starts never opens a store and never loads it.
import { FilesystemStore } from "./filesystem-store.js";
import type { ObjectStore } from "./object-store.js";
import { credentialsFromFile } from "./aws-credentials-file.js";
import { resolveBackupStorageLocation, type ClusterReader } from "./backup-storage-location.js";
import type { S3StoreOptions, StaticCredentials } from "./s3-options.js";
import { parseStoreUrl, StoreUrlError } from "./store-url.js";

export const DEFAULT_STORE_URL = "file:///var/lib/twinsnap";

/** What the entry point read from the environment for S3 (AWS_REGION, AWS_PROFILE, AWS_ACCESS_KEY_ID, ...). */
export interface AwsEnvironment {
  region?: string;
  profile?: string;
  /** Static keys from the environment: they come first, as in the AWS default chain. */
  credentials?: StaticCredentials;
  /** AWS_SHARED_CREDENTIALS_FILE, read only if used; for bsl: it comes after the BSL's own Secret. */
  sharedCredentialsFile?: CredentialsFile;
  /** ~/.aws/credentials: the chain's last file, for s3:// only (a bsl: store never takes a laptop's keys). */
  homeCredentialsFile?: CredentialsFile;
}

export interface CredentialsFile {
  path: string;
  read(): Promise<string>;
}

export interface StoreAccess {
  aws?: AwsEnvironment;
  /** For bsl:<name>: the cluster holding the BackupStorageLocation, and Velero's namespace. */
  cluster?: { client: ClusterReader; veleroNamespace: string };
  /** Multipart tuning and retries for S3 stores (tests and benchmarks). */
  s3?: Pick<S3StoreOptions, "partSizeBytes" | "queueSize" | "maxAttempts" | "listPageSize">;
}

/**
 * A store that holds connections (S3) has close(); call it before exiting. An S3 store also has openUrl: the
 * s3:// URL with region and endpoint that opens it again (for a bsl: store, without the cluster).
 */
export type OpenedStore = ObjectStore & { close?(): void; openUrl?: string };

export class UnsupportedStoreError extends Error {
  override readonly name = "UnsupportedStoreError";
}

export async function openStore(url: string, access: StoreAccess = {}): Promise<OpenedStore> {
  const location = parseStoreUrl(url);
  if (location.kind === "file") return new FilesystemStore(location.path);
  let options: S3StoreOptions;
  if (location.kind === "bsl") {
    if (!access.cluster) throw new UnsupportedStoreError(`store "${url}" is read from the cluster: this command needs a kubeconfig (--kubeconfig) for it`);
    options = await resolveBackupStorageLocation({
      client: access.cluster.client,
      namespace: access.cluster.veleroNamespace,
      name: location.name,
      ...(access.aws?.sharedCredentialsFile ? { credentialsFile: access.aws.sharedCredentialsFile } : {}),
    });
  } else {
    options = await s3UrlOptions(url, access.aws ?? {});
  }
  const { S3Store } = await import("./s3-store.js");
  return new S3Store({ ...options, ...access.s3 });
}

/** The S3 store an s3:// URL names, with the region and credentials the environment gives. */
export async function s3UrlOptions(url: string, aws: AwsEnvironment): Promise<S3StoreOptions> {
  const location = parseStoreUrl(url);
  if (location.kind !== "s3") throw new StoreUrlError(url, "not an s3:// URL");
  const credentials = await s3UrlCredentials(url, aws, location.profile);
  return {
    bucket: location.bucket,
    prefix: location.prefix,
    region: location.region ?? aws.region ?? "us-east-1",
    forcePathStyle: location.forcePathStyle,
    ...(location.endpoint ? { endpoint: location.endpoint } : {}),
    ...(location.checksumAlgorithm !== undefined ? { checksumAlgorithm: location.checksumAlgorithm } : {}),
    ...(location.serverSideEncryption !== undefined ? { serverSideEncryption: location.serverSideEncryption } : {}),
    ...(location.kmsKeyId !== undefined ? { kmsKeyId: location.kmsKeyId } : {}),
    ...(credentials ? { credentials } : {}),
  };
}

/**
 * The AWS default chain's first two links, from what the entry point read: static keys in the environment, then
 * the shared credentials file with the profile of the URL (or AWS_PROFILE, or "default"). Neither: the SDK's own
 * chain (IAM roles for service accounts, instance profiles).
 */
async function s3UrlCredentials(url: string, aws: AwsEnvironment, urlProfile: string | undefined): Promise<StaticCredentials | undefined> {
  if (aws.credentials && !urlProfile) return aws.credentials;
  const file = aws.sharedCredentialsFile ?? aws.homeCredentialsFile;
  if (!file) {
    if (urlProfile) throw new StoreUrlError(url, `profile=${urlProfile} needs a shared credentials file (set AWS_SHARED_CREDENTIALS_FILE)`);
    return undefined;
  }
  let text: string;
  try {
    text = await file.read();
  } catch (err) {
    if (!urlProfile && file === aws.homeCredentialsFile && (err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new StoreUrlError(url, `the credentials file ${file.path} cannot be read (${(err as Error).message})`);
  }
  return credentialsFromFile(text, urlProfile ?? aws.profile ?? "default", file.path);
}
