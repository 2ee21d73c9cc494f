// A stream of unknown length into one S3 object: PutObject when it fits in one part, else a multipart upload of
// `partSize` parts, at most `queueSize` in flight. The parts are copied into queueSize + 1 buffers that are reused
// from part to part.
// Why not @aws-sdk/lib-storage's Upload: it concatenates each part from the stream's chunks into a new 8 MiB
// buffer that lives as long as the part's upload. Such buffers (memory outside V8's heap) outlive the young
// collections and are reclaimed only by full mark-compacts: 75 of them for a 512 MiB etcd snapshot into S3, which
// cost more CPU than the upload itself (README, "Measured").
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type PutObjectCommandInput,
  type S3Client,
} from "@aws-sdk/client-s3";

/** What PutObject and CreateMultipartUpload share: bucket, key, checksum algorithm, encryption. */
export type ObjectParams = Pick<PutObjectCommandInput, "Bucket" | "Key" | "ChecksumAlgorithm" | "ServerSideEncryption" | "SSEKMSKeyId">;

/** The upload failed; `uploadId` names the multipart upload begun, for the caller to abort. */
export class MultipartUploadError extends Error {
  override readonly name = "MultipartUploadError";
  constructor(
    readonly uploadId: string | undefined,
    options: { cause: unknown },
  ) {
    super((options.cause as Error)?.message ?? String(options.cause), options);
  }
}

const CHECKSUM_FIELDS = ["ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME", "ChecksumSHA1", "ChecksumSHA256"] as const;

export async function uploadStream(
  client: S3Client,
  params: ObjectParams,
  body: Readable,
  opts: { partSize: number; queueSize: number },
): Promise<{ size: number; sha256: string }> {
  const hash = createHash("sha256");
  const free: Buffer[] = [];
  const inFlight = new Set<Promise<void>>();
  const parts: CompletedPart[] = [];
  let uploadId: string | undefined;
  let failure: unknown;
  let size = 0;
  let part: Buffer = Buffer.allocUnsafe(opts.partSize);
  let partHave = 0;
  let partNumber = 0;

  const send = async (buffer: Buffer, length: number): Promise<void> => {
    const number = ++partNumber;
    uploadId ??= (await client.send(new CreateMultipartUploadCommand(params))).UploadId;
    if (!uploadId) throw new Error("S3 began no multipart upload (CreateMultipartUpload returned no UploadId)");
    const done = client
      .send(new UploadPartCommand({ Bucket: params.Bucket, Key: params.Key, UploadId: uploadId, PartNumber: number, Body: buffer.subarray(0, length), ContentLength: length, ...(params.ChecksumAlgorithm ? { ChecksumAlgorithm: params.ChecksumAlgorithm } : {}) }))
      .then((res) => {
        if (!res.ETag) throw new Error(`S3 answered part ${number} without an ETag`);
        // The checksums S3 computed for the part go back in the completion, as S3 requires when it has them.
        const checksums = Object.fromEntries(CHECKSUM_FIELDS.filter((f) => res[f] !== undefined).map((f) => [f, res[f]]));
        parts.push({ PartNumber: number, ETag: res.ETag, ...checksums });
        free.push(buffer);
      })
      .catch((err: unknown) => void (failure ??= err))
      .finally(() => inFlight.delete(done));
    inFlight.add(done);
    // At most queueSize parts in flight: wait for one before the stream fills the next buffer.
    while (inFlight.size >= opts.queueSize && failure === undefined) await Promise.race(inFlight);
  };

  try {
    // Not destroyed when the upload gives up: the caller decides what happens to its source (and an error the
    // source then raised would be mistaken for the source's own).
    for await (const data of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array | string>) {
      const chunk = typeof data === "string" ? Buffer.from(data) : Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      hash.update(chunk);
      size += chunk.length;
      for (let at = 0; at < chunk.length; ) {
        const n = chunk.copy(part, partHave, at);
        partHave += n;
        at += n;
        if (partHave < opts.partSize) continue;
        await send(part, partHave);
        if (failure !== undefined) throw failure;
        part = free.pop() ?? Buffer.allocUnsafe(opts.partSize);
        partHave = 0;
      }
    }
    if (partNumber === 0) {
      // It fitted in one part: a single PutObject, no multipart upload to complete or abort.
      await client.send(new PutObjectCommand({ ...params, Body: part.subarray(0, partHave), ContentLength: partHave }));
      return { size, sha256: hash.digest("hex") };
    }
    if (failure !== undefined) throw failure;
    if (partHave > 0) await send(part, partHave);
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await client.send(new CompleteMultipartUploadCommand({ Bucket: params.Bucket, Key: params.Key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    return { size, sha256: hash.digest("hex") };
  } catch (err) {
    await Promise.allSettled(inFlight);
    throw new MultipartUploadError(uploadId, { cause: err });
  }
}
