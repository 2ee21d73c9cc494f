// An S3 bucket (AWS or S3-compatible) as a store. Atomic by S3's own rule: an object appears under its key only
// when PutObject or CompleteMultipartUpload succeeds. Streams of unknown length go up as a multipart upload in
// parts of `partSizeBytes`, at most `queueSize` at a time, so memory stays bounded whatever the size; any failure
// aborts the upload, so no parts are left behind to be billed. Loaded only by openStore (dynamic import): the
// plugin process Velero starts never pays for the SDK.
import { Agent } from "node:https";
import { rootCertificates } from "node:tls";
import type { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type ChecksumAlgorithm,
  type S3ClientConfig,
  type ServerSideEncryption,
} from "@aws-sdk/client-s3";
import { checkKey, ObjectNotFoundError, StoreAccessError, StoreWriteError, type ObjectStore, type PutResult } from "./object-store.js";
import { isS3NotFound, isS3Transient } from "./s3-errors.js";
import { MultipartUploadError, uploadStream } from "./s3-multipart-upload.js";
import { DEFAULT_PART_SIZE, DEFAULT_QUEUE_SIZE, s3StoreName, s3StoreUrl, type S3StoreOptions } from "./s3-options.js";
import { isRecoverable } from "../recoverable.js";

export class S3Store implements ObjectStore {
  /** s3://bucket/prefix */
  readonly url: string;
  /** The --store URL that opens this store again: s3://bucket/prefix?region=...&endpoint=... */
  readonly openUrl: string;
  private readonly client: S3Client;
  private readonly base: string;

  constructor(private readonly opts: S3StoreOptions) {
    this.base = opts.prefix === "" ? "" : `${opts.prefix}/`;
    this.url = s3StoreName(opts);
    this.openUrl = s3StoreUrl(opts);
    const checksums = (opts.checksumAlgorithm ?? "CRC32") !== "";
    const tls = opts.caCert || opts.insecureSkipTlsVerify;
    const config: S3ClientConfig = {
      region: opts.region,
      forcePathStyle: opts.forcePathStyle,
      // A bucket in another region than the one given answers with a redirect: follow it, as Velero finds the region.
      followRegionRedirects: true,
      maxAttempts: opts.maxAttempts ?? 3,
      requestChecksumCalculation: checksums ? "WHEN_SUPPORTED" : "WHEN_REQUIRED",
      responseChecksumValidation: checksums ? "WHEN_SUPPORTED" : "WHEN_REQUIRED",
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      ...(tls
        ? { requestHandler: { httpsAgent: new Agent({ keepAlive: true, rejectUnauthorized: !opts.insecureSkipTlsVerify, ...(opts.caCert ? { ca: [...rootCertificates, opts.caCert] } : {}) }) } }
        : {}),
    };
    this.client = new S3Client(config);
  }

  /** The bucket key of a store key. */
  objectKey(key: string): string {
    return `${this.base}${checkKey(key)}`;
  }

  async put(key: string, body: Readable): Promise<PutResult> {
    const objectKey = this.objectKey(key);
    let sourceError: unknown;
    // The source's own error, told apart from the upload's: it decides what is recoverable.
    body.once("error", (err) => (sourceError ??= err));
    const algorithm = this.opts.checksumAlgorithm ?? "CRC32";
    const partSize = this.opts.partSizeBytes ?? DEFAULT_PART_SIZE;
    let result: PutResult;
    try {
      result = await uploadStream(
        this.client,
        { Bucket: this.opts.bucket, Key: objectKey, ...(algorithm ? { ChecksumAlgorithm: algorithm as ChecksumAlgorithm } : {}), ...this.encryption() },
        body,
        { partSize, queueSize: this.opts.queueSize ?? DEFAULT_QUEUE_SIZE },
      );
    } catch (err) {
      const failedSource = sourceError;
      body.destroy();
      const uploadId = err instanceof MultipartUploadError ? err.uploadId : undefined;
      const leftover = await this.abortUpload(objectKey, uploadId);
      const cause = failedSource ?? (err instanceof MultipartUploadError ? err.cause : err);
      const recoverable = failedSource !== undefined ? isRecoverable(failedSource) : isS3Transient(cause);
      throw new StoreWriteError(this.url, key, { cause, recoverable, ...(leftover ? { detail: leftover } : {}) });
    }
    if (sourceError !== undefined) {
      // The source failed after the last byte was taken (its error came late): what was stored is not trusted.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: objectKey })).catch(() => undefined);
      throw new StoreWriteError(this.url, key, { cause: sourceError, recoverable: isRecoverable(sourceError) });
    }
    // A process that died mid-upload of this key earlier could not abort its upload: do it now. Only after a
    // multipart upload (what leaves such parts), and best effort: listing uploads needs
    // s3:ListBucketMultipartUploads, which Velero's example IAM policy does not grant.
    if (result.size > partSize) await this.abortStaleUploads(key, new Date()).catch(() => 0);
    return result;
  }

  private encryption(): { ServerSideEncryption?: ServerSideEncryption; SSEKMSKeyId?: string } {
    // A KMS key implies aws:kms, as velero-plugin-for-aws does.
    if (this.opts.kmsKeyId) return { ServerSideEncryption: "aws:kms", SSEKMSKeyId: this.opts.kmsKeyId };
    return this.opts.serverSideEncryption ? { ServerSideEncryption: this.opts.serverSideEncryption as ServerSideEncryption } : {};
  }

  /**
   * Makes sure a failed multipart upload holds no parts (uploadStream leaves that to its caller): aborts it, and
   * says what is left if the abort cannot reach S3.
   */
  private async abortUpload(objectKey: string, uploadId: string | undefined): Promise<string | undefined> {
    if (!uploadId) return undefined;
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.opts.bucket, Key: objectKey, UploadId: uploadId }));
      return undefined;
    } catch (err) {
      if (isS3NotFound(err)) return undefined; // already aborted
      return `multipart upload ${uploadId} could not be aborted (${(err as Error).message}): it holds parts but no object; the next write of this key aborts it, or an AbortIncompleteMultipartUpload lifecycle rule does`;
    }
  }

  /**
   * Aborts multipart uploads of `key` begun before `before` — left by a process that died mid-upload (it could
   * not abort them). Called after a write of the key completed: keys are per backup and one coordinator leads at
   * a time, so any upload of the key still open then is such a leftover.
   */
  async abortStaleUploads(key: string, before: Date): Promise<number> {
    const objectKey = this.objectKey(key);
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new ListMultipartUploadsCommand({ Bucket: this.opts.bucket, Prefix: objectKey, ...(keyMarker ? { KeyMarker: keyMarker } : {}), ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}) }),
      );
      for (const u of page.Uploads ?? []) {
        if (u.Key !== objectKey || !u.UploadId || !u.Initiated || u.Initiated >= before) continue;
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.opts.bucket, Key: objectKey, UploadId: u.UploadId })).catch((err: unknown) => {
          if (!isS3NotFound(err)) throw err;
        });
        aborted++;
      }
      if (!page.IsTruncated) return aborted;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  /** PutObject with If-None-Match: * (S3 conditional writes): 412 when the key exists. */
  async createIfAbsent(key: string, content: string): Promise<boolean> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.opts.bucket, Key: this.objectKey(key), Body: content, IfNoneMatch: "*", ...this.encryption() }));
      return true;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 412 || (err as Error).name === "PreconditionFailed") return false;
      throw new StoreWriteError(this.url, key, { cause: err, recoverable: isS3Transient(err) });
    }
  }

  async get(key: string): Promise<Readable> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.objectKey(key), ...((this.opts.checksumAlgorithm ?? "CRC32") !== "" ? { ChecksumMode: "ENABLED" as const } : {}) }));
      return res.Body as Readable;
    } catch (err) {
      if (isS3NotFound(err)) throw new ObjectNotFoundError(this.url, key);
      throw new StoreAccessError(this.url, `GET ${key}`, isS3Transient(err), { cause: err });
    }
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.opts.bucket, Key: this.objectKey(key) }));
      return { size: res.ContentLength ?? 0 };
    } catch (err) {
      if (isS3NotFound(err)) return undefined;
      throw new StoreAccessError(this.url, `HEAD ${key}`, isS3Transient(err), { cause: err });
    }
  }

  /** Keys under `prefix` as a directory (list("pairs") never returns "pairs-old/x"), sorted. */
  async list(prefix: string): Promise<string[]> {
    const dir = prefix.replace(/\/+$/, "");
    const listPrefix = dir === "" ? this.base : `${this.base}${dir}/`;
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: listPrefix, ...(this.opts.listPageSize ? { MaxKeys: this.opts.listPageSize } : {}), ...(token ? { ContinuationToken: token } : {}) }));
        for (const o of page.Contents ?? []) if (o.Key && !o.Key.endsWith("/")) keys.push(o.Key.slice(this.base.length));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw new StoreAccessError(this.url, `LIST ${listPrefix}`, isS3Transient(err), { cause: err });
    }
    return keys.sort();
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: this.objectKey(key) }));
    } catch (err) {
      if (isS3NotFound(err)) return;
      throw new StoreAccessError(this.url, `DELETE ${key}`, isS3Transient(err), { cause: err });
    }
  }

  /** Closes kept-alive connections so a command can exit at once. */
  close(): void {
    this.client.destroy();
  }
}
