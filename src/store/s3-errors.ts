// How errors of the AWS SDK for JavaScript map onto the store's: which mean "no such object" and which are
// transient (a retry may succeed). Tables, so a reader sees the whole rule; no SDK import, so this stays cheap.

/** S3 error codes for a missing object or upload (HeadObject answers a bare 404 "NotFound"). */
const NOT_FOUND_NAMES = new Set(["NoSuchKey", "NotFound", "NoSuchUpload"]);

/** S3 error codes that say "slow down" or "try again" although some come with a 4xx status. */
const TRANSIENT_NAMES = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "RequestTimeout",
  "RequestTimeoutException",
  "InternalError",
  "ServiceUnavailable",
  "TimeoutError",
  "OperationAborted",
]);

/** Node's codes for a connection that failed or broke: the server may be back in a moment. */
const TRANSIENT_NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "ENOTFOUND",
  "UND_ERR_SOCKET",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  cause?: unknown;
}

function chain(err: unknown): SdkErrorShape[] {
  const out: SdkErrorShape[] = [];
  for (let e = err as SdkErrorShape | undefined, depth = 0; e && typeof e === "object" && depth < 5; e = e.cause as SdkErrorShape | undefined, depth++) out.push(e);
  return out;
}

export function isS3NotFound(err: unknown): boolean {
  const e = err as SdkErrorShape | undefined;
  if (!e || e.name === "NoSuchBucket" || e.Code === "NoSuchBucket") return false; // a wrong bucket is an error, not an absent object
  return NOT_FOUND_NAMES.has(e.name ?? "") || NOT_FOUND_NAMES.has(e.Code ?? "") || e.$metadata?.httpStatusCode === 404;
}

export function isS3Transient(err: unknown): boolean {
  return chain(err).some((e) => {
    const status = e.$metadata?.httpStatusCode;
    return (
      (status !== undefined && (status >= 500 || status === 429 || status === 408)) ||
      e.$retryable !== undefined ||
      TRANSIENT_NAMES.has(e.name ?? "") ||
      TRANSIENT_NAMES.has(e.Code ?? "") ||
      TRANSIENT_NETWORK_CODES.has(e.code ?? "")
    );
  });
}
