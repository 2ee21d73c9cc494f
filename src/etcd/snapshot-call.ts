// Maintenance.Snapshot as one gRPC call over Node's own HTTP/2 client, decoded by snapshot-response-decoder.ts
// (why not grpc-js: see there). What the call needs of gRPC is small: a POST of one empty message, the answer's
// messages, and its status in the trailers. The status codes are gRPC's (grpc/doc/statuscodes.md).
import http2 from "node:http2";
import { Readable } from "node:stream";
import { SnapshotResponseDecoder } from "./snapshot-response-decoder.js";

export interface EtcdTls {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/**
 * Flow-control window of the stream and of the connection. HTTP/2's default 64 KiB stalls etcd after two 32 KiB
 * messages until the window update arrives; a larger one lets a snapshot come at the speed of etcd's disk, as
 * etcdctl's does. It also bounds what is in flight when the store is slower than etcd.
 */
const WINDOW_BYTES = 1024 * 1024;

/** An empty SnapshotRequest: the 5-byte gRPC prefix of a message of length 0. */
const EMPTY_REQUEST = Buffer.alloc(5);

const GRPC_CODES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"];

/** etcd (or what answered in its place) ended the call with an error, or the connection failed. */
export class EtcdCallError extends Error {
  override readonly name = "EtcdCallError";
  constructor(
    message: string,
    /** gRPC's status code when etcd gave one (7 PERMISSION_DENIED, 14 UNAVAILABLE, ...). */
    readonly grpcCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** etcd refused the call itself (no permission, not authenticated, no such method): asking again changes nothing. */
  get permanent(): boolean {
    return this.grpcCode === 7 || this.grpcCode === 12 || this.grpcCode === 16;
  }
}

/** The snapshot stream of the member at `endpoint`: object mode, one SnapshotChunk per item, as grpc-js gave it. */
export function snapshotCall(endpoint: URL, tls: EtcdTls | undefined): Readable {
  const where = endpoint.origin;
  const decoder = new SnapshotResponseDecoder();
  let status: { code: number; message: string } | undefined;
  let ended = false;
  const session = http2.connect(where, { ...(tls ?? {}), settings: { initialWindowSize: WINDOW_BYTES } });
  const request = session.request({ ":method": "POST", ":path": "/etcdserverpb.Maintenance/Snapshot", "content-type": "application/grpc", te: "trailers" });
  // Two chunks waiting at most: with 1 MiB chunks, memory stays flat whatever the size of the database.
  const out = new Readable({
    objectMode: true,
    highWaterMark: 2,
    read: () => void request.resume(),
    destroy: (err, done) => {
      if (!request.closed) request.close(http2.constants.NGHTTP2_CANCEL);
      session.destroy();
      done(err);
    },
  });
  const fail = (err: Error) => out.destroy(err);
  const push = (chunks: ReturnType<SnapshotResponseDecoder["write"]>) => {
    let more = true;
    for (const chunk of chunks) more = out.push(chunk);
    if (!more) request.pause();
  };

  session.once("connect", () => session.setLocalWindowSize(WINDOW_BYTES));
  session.on("error", (err) => fail(new EtcdCallError(`the connection to etcd at ${where} failed: ${err.message}`, undefined, { cause: err })));
  request.end(EMPTY_REQUEST);
  request.on("response", (headers) => {
    const type = String(headers["content-type"] ?? "");
    if (headers[":status"] !== 200 || !type.startsWith("application/grpc")) {
      return fail(new EtcdCallError(`${where} is not an etcd gRPC endpoint: it answered HTTP ${headers[":status"]} (${type || "no content type"})`));
    }
    status = statusOf(headers); // a "trailers-only" answer: an error before any message
  });
  request.on("trailers", (trailers) => (status = statusOf(trailers) ?? status));
  request.on("data", (data: Buffer) => {
    try {
      push(decoder.write(data));
    } catch (err) {
      fail(err as Error);
    }
  });
  request.on("end", () => (ended = true));
  request.on("error", (err: Error) => {
    // A connection that never came up fails its pending stream with the connection's error as the cause.
    const cause = err.cause instanceof Error ? err.cause : undefined;
    fail(cause ? new EtcdCallError(`the connection to etcd at ${where} failed: ${cause.message}`, undefined, { cause })
      : new EtcdCallError(`the snapshot stream from etcd at ${where} failed: ${err.message}`, undefined, { cause: err }));
  });
  // The call's outcome is known when the stream closes: after its last bytes and trailers, or after a reset
  // (which also ends the readable side, so 'end' alone does not tell a whole stream from a cut one).
  request.on("close", () => {
    if (out.destroyed) return;
    if (!ended || request.rstCode !== http2.constants.NGHTTP2_NO_ERROR) return fail(new EtcdCallError(`the snapshot stream from etcd at ${where} closed before its end (HTTP/2 code ${request.rstCode}): the member stopped or the connection was cut`));
    if (!status) return fail(new EtcdCallError(`etcd at ${where} ended the snapshot stream without a gRPC status: the connection was cut`));
    if (status.code !== 0) return fail(new EtcdCallError(`etcd at ${where} ended the snapshot with ${GRPC_CODES[status.code] ?? "code"} (${status.code}): ${status.message}`, status.code));
    try {
      push(decoder.end());
    } catch (err) {
      return fail(err as Error);
    }
    out.push(null);
    session.close();
  });
  return out;
}

function statusOf(headers: http2.IncomingHttpHeaders): { code: number; message: string } | undefined {
  const code = headers["grpc-status"];
  if (code === undefined) return undefined;
  const raw = String(headers["grpc-message"] ?? "");
  let message = raw;
  try {
    message = decodeURIComponent(raw); // gRPC percent-encodes the message
  } catch {
    // not percent-encoded after all: shown as sent
  }
  return { code: Number(code), message };
}
