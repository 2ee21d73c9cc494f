// The forms of --store, parsed without I/O:
//   file:///var/lib/twinsnap  (or a bare absolute path)   a directory
//   s3://bucket/prefix?region=..&endpoint=..&forcePathStyle=true&profile=..&checksumAlgorithm=..&kmsKeyId=..&serverSideEncryption=..
//   bsl:<name>                                            Velero's BackupStorageLocation <name>, read through the cluster
import { fileURLToPath } from "node:url";
import { CHECKSUM_ALGORITHMS, type S3ChecksumAlgorithm } from "./s3-options.js";

export type StoreLocation =
  | { kind: "file"; path: string }
  | {
      kind: "s3";
      bucket: string;
      prefix: string;
      region?: string;
      endpoint?: string;
      forcePathStyle: boolean;
      profile?: string;
      checksumAlgorithm?: S3ChecksumAlgorithm;
      /** Server-side encryption, as a BSL's config: "AES256" or "aws:kms" (implied by kmsKeyId). */
      serverSideEncryption?: "AES256" | "aws:kms";
      kmsKeyId?: string;
    }
  | { kind: "bsl"; name: string };

export class StoreUrlError extends Error {
  override readonly name = "StoreUrlError";
  constructor(
    readonly url: string,
    problem: string,
  ) {
    super(`store "${url}": ${problem}`);
  }
}

const S3_QUERY = ["region", "endpoint", "forcePathStyle", "profile", "checksumAlgorithm", "kmsKeyId", "serverSideEncryption"] as const;
const DNS_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const KUBE_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export function parseBoolean(url: string, name: string, value: string): boolean {
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new StoreUrlError(url, `${name} must be true or false, not "${value}"`);
}

export function parseChecksumAlgorithm(value: string, problem: (message: string) => Error): S3ChecksumAlgorithm {
  const upper = value.toUpperCase() as S3ChecksumAlgorithm;
  if (!(CHECKSUM_ALGORITHMS as readonly string[]).includes(upper)) {
    throw problem(`checksumAlgorithm must be one of ${CHECKSUM_ALGORITHMS.filter(Boolean).join(", ")} or empty (none), not "${value}"`);
  }
  return upper;
}

export function parseEndpoint(value: string, problem: (message: string) => Error): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw problem(`the endpoint "${value}" is not a URL (expected http://host:port or https://host)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw problem(`the endpoint "${value}" must start with http:// or https://`);
  return value.replace(/\/+$/, "");
}

/** Every problem with a --store URL is a StoreUrlError naming the part: never a raw TypeError or URIError. */
export function parseStoreUrl(url: string): StoreLocation {
  if (/[\u0000-\u001f\u007f]/.test(url)) throw new StoreUrlError(url, "contains a control character");
  if (url.startsWith("/")) return { kind: "file", path: url };
  if (url.startsWith("file://")) {
    try {
      return { kind: "file", path: fileURLToPath(url) };
    } catch (err) {
      throw new StoreUrlError(url, `${(err as Error).message} (expected file:///absolute/path)`);
    }
  }
  if (url.startsWith("bsl:")) {
    const name = url.slice(4);
    if (!KUBE_NAME.test(name)) throw new StoreUrlError(url, "expected bsl:<name of a Velero BackupStorageLocation>, e.g. bsl:default");
    return { kind: "bsl", name };
  }
  if (url.startsWith("s3://")) return parseS3Url(url);
  throw new StoreUrlError(url, "expected file:///path, s3://bucket/prefix or bsl:<name>");
}

function parseS3Url(url: string): StoreLocation {
  const authority = url.slice("s3://".length).split(/[/?#]/)[0]!;
  if (!DNS_NAME.test(authority)) {
    if (/[:@]/.test(authority)) throw new StoreUrlError(url, "put the server in ?endpoint=http://host:port, not in the bucket part");
    throw new StoreUrlError(url, `"${authority}" is not a valid bucket name (expected s3://bucket/prefix)`);
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new StoreUrlError(url, `not a valid URL (${(err as Error).message}); expected s3://bucket/prefix?parameters`);
  }
  const bucket = u.hostname;
  if (!DNS_NAME.test(bucket)) throw new StoreUrlError(url, `"${bucket}" is not a valid bucket name (expected s3://bucket/prefix)`);
  if (u.port || u.username || u.password) throw new StoreUrlError(url, "put the server in ?endpoint=http://host:port, not in the bucket part");
  // From the text as written: URL parsing would resolve "a/../b" silently.
  const rawPath = url.slice("s3://".length).split(/[?#]/)[0]!.replace(/^[^/]*/, "");
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw new StoreUrlError(url, `the prefix "${rawPath}" is not valid percent-encoding`);
  }
  const prefix = decoded.replace(/^\/+|\/+$/g, "");
  if (prefix.split("/").some((s) => s === "." || s === "..") || prefix.includes("//")) throw new StoreUrlError(url, `the prefix "${prefix}" has empty, "." or ".." segments`);
  const problem = (message: string) => new StoreUrlError(url, message);
  for (const key of u.searchParams.keys()) {
    if (!(S3_QUERY as readonly string[]).includes(key)) throw problem(`unknown parameter "${key}" (known: ${S3_QUERY.join(", ")})`);
  }
  for (const [key, value] of u.searchParams) {
    // URLSearchParams turns bad percent-encoding into U+FFFD silently.
    if (value.includes("\uFFFD")) throw problem(`the value of ${key} is not valid percent-encoding`);
  }
  const q = (k: (typeof S3_QUERY)[number]) => u.searchParams.get(k) ?? undefined;
  const endpoint = q("endpoint");
  const region = q("region");
  if (region !== undefined && !/^[A-Za-z0-9_-]*$/.test(region)) throw problem(`region "${region}" is not a region name (e.g. us-east-1)`);
  const profile = q("profile");
  const checksum = q("checksumAlgorithm");
  const forcePathStyle = q("forcePathStyle");
  const kmsKeyId = q("kmsKeyId");
  const sse = q("serverSideEncryption");
  if (sse !== undefined && sse !== "AES256" && sse !== "aws:kms") throw problem(`serverSideEncryption must be AES256 or aws:kms, not "${sse}"`);
  if (kmsKeyId !== undefined && kmsKeyId === "") throw problem("kmsKeyId is empty");
  if (kmsKeyId !== undefined && sse === "AES256") throw problem("kmsKeyId needs serverSideEncryption aws:kms (or leave serverSideEncryption out: a KMS key implies it)");
  return {
    kind: "s3",
    bucket,
    prefix,
    forcePathStyle: forcePathStyle === undefined ? false : parseBoolean(url, "forcePathStyle", forcePathStyle),
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint: parseEndpoint(endpoint, problem) } : {}),
    ...(profile ? { profile } : {}),
    ...(checksum !== undefined ? { checksumAlgorithm: parseChecksumAlgorithm(checksum, problem) } : {}),
    ...(sse !== undefined ? { serverSideEncryption: sse } : {}),
    ...(kmsKeyId !== undefined ? { kmsKeyId } : {}),
  };
}
