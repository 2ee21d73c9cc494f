// What an S3 store is configured with. Apart from the SDK (s3-store.ts), so that parsing URLs and reading
// Velero's BackupStorageLocation never load it.
export interface StaticCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** The checksums S3 computes and checks on upload; "" sends none (for S3-compatible servers that refuse them). */
export const CHECKSUM_ALGORITHMS = ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME", ""] as const;
export type S3ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

export interface S3StoreOptions {
  bucket: string;
  /** Prefix of every key, without leading or trailing "/"; "" for the bucket's root. */
  prefix: string;
  region: string;
  /** An S3-compatible endpoint (http://127.0.0.1:9000); AWS's own when absent. */
  endpoint?: string;
  forcePathStyle: boolean;
  /** Absent: the SDK's default chain (IAM roles for service accounts, instance profile, ...). */
  credentials?: StaticCredentials;
  /** Default CRC32, as velero-plugin-for-aws sends. */
  checksumAlgorithm?: S3ChecksumAlgorithm;
  /** Server-side encryption of what twinsnap writes ("AES256", "aws:kms"), as a BSL's config.serverSideEncryption. */
  serverSideEncryption?: string;
  /** A KMS key for "aws:kms" (a BSL's config.kmsKeyId). */
  kmsKeyId?: string;
  /** PEM bundle to trust besides the system CAs (a BSL's objectStorage.caCert). */
  caCert?: string;
  insecureSkipTlsVerify?: boolean;
  /** Parts of a multipart upload (minimum 5 MiB; default 8 MiB). */
  partSizeBytes?: number;
  /** Parts uploaded at once (default 2): memory is about partSizeBytes × (queueSize + 1). */
  queueSize?: number;
  /** Keys per LIST request (default 1000, S3's maximum). */
  listPageSize?: number;
  /** Attempts per request, retries included (default 3). */
  maxAttempts?: number;
}

export const DEFAULT_PART_SIZE = 8 * 2 ** 20;
export const DEFAULT_QUEUE_SIZE = 2;

/** The bucket and prefix as s3://bucket/prefix: how records and messages name the store and its objects. */
export function s3StoreName(o: Pick<S3StoreOptions, "bucket" | "prefix">): string {
  return `s3://${o.bucket}${o.prefix ? `/${o.prefix}` : ""}`;
}

/**
 * The s3:// URL that opens this store again (credentials aside): what an operator passes when the cluster that
 * held a bsl: location is down.
 */
export function s3StoreUrl(o: Pick<S3StoreOptions, "bucket" | "prefix" | "region" | "endpoint" | "forcePathStyle">): string {
  const query = [`region=${encodeURIComponent(o.region)}`, ...(o.endpoint ? [`endpoint=${o.endpoint}`] : []), ...(o.forcePathStyle ? ["forcePathStyle=true"] : [])];
  return `${s3StoreName(o)}?${query.join("&")}`;
}
