// etcd's Maintenance calls (Status, Snapshot) as gRPC over Node's own HTTP/2 client. What twinsnap needs of gRPC
// is small: a POST of one empty message, the answer's messages, and the status in the trailers (status codes:
// grpc/doc/statuscodes.md). Why not grpc-js: the snapshot carries the whole database, and grpc-js decoded each
// 32 KiB message into an object of its own (see snapshot-response-decoder.ts); and on a TLS endpoint named by
// its IP, as kubeadm's https://127.0.0.1:2379 is, grpc-js made Node print a deprecation warning on every run.
import http2 from "node:http2";
import { Readable } from "node:stream";
import type { ChunkPool } from "./chunk-pool.js";
import { decodeStatusResponse, EtcdWireError, type EtcdStatus } from "./etcd-wire.js";
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

/** An empty request (StatusRequest and SnapshotRequest have no fields): the 5-byte prefix of a message of length 0. */
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

interface Call {
  /** Where the call went, for messages: the endpoint's origin. */
  where: string;
  session: http2.ClientHttp2Session;
  request: http2.ClientHttp2Stream;
}

/**
 * Starts `method` on the member at `endpoint` and reports how the call ended: `onEnd` once, with the error or
 * with nothing when etcd said OK after the last message. The answer's bytes arrive as the request's 'data'.
 */
function startCall(endpoint: URL, tls: EtcdTls | undefined, method: string, onEnd: (err?: Error) => void): Call {
  const where = endpoint.origin;
  const session = http2.connect(where, { ...(tls ?? {}), settings: { initialWindowSize: WINDOW_BYTES } });
  const request = session.request({ ":method": "POST", ":path": `/etcdserverpb.Maintenance/${method}`, "content-type": "application/grpc", te: "trailers" });
  let status: { code: number; message: string } | undefined;
  let ended = false;
  let done = false;
  const end = (err?: Error) => {
    if (done) return;
    done = true;
    onEnd(err);
  };

  session.once("connect", () => session.setLocalWindowSize(WINDOW_BYTES));
  session.on("error", (err) => end(new EtcdCallError(`the connection to etcd at ${where} failed: ${err.message}`, undefined, { cause: err })));
  request.end(EMPTY_REQUEST);
  request.on("response", (headers) => {
    const type = String(headers["content-type"] ?? "");
    if (headers[":status"] !== 200 || !type.startsWith("application/grpc")) {
      return end(new EtcdCallError(`${where} is not an etcd gRPC endpoint: it answered HTTP ${headers[":status"]} (${type || "no content type"})`));
    }
    status = statusOf(headers); // a "trailers-only" answer: an error before any message
  });
  request.on("trailers", (trailers) => (status = statusOf(trailers) ?? status));
  request.on("end", () => (ended = true));
  request.on("error", (err: Error) => {
    // A connection that never came up fails its pending stream with the connection's error as the cause.
    const cause = err.cause instanceof Error ? err.cause : undefined;
    end(cause ? new EtcdCallError(`the connection to etcd at ${where} failed: ${cause.message}`, undefined, { cause })
      : new EtcdCallError(`the ${method} call to etcd at ${where} failed: ${err.message}`, undefined, { cause: err }));
  });
  // The call's outcome is known when the stream closes: after its last bytes and trailers, or after a reset
  // (which also ends the readable side, so 'end' alone does not tell a whole stream from a cut one).
  request.on("close", () => {
    if (!ended || request.rstCode !== http2.constants.NGHTTP2_NO_ERROR) return end(new EtcdCallError(`the ${method} stream from etcd at ${where} closed before its end (HTTP/2 code ${request.rstCode}): the member stopped or the connection was cut`));
    if (!status) return end(new EtcdCallError(`etcd at ${where} ended the ${method} stream without a gRPC status: the connection was cut`));
    if (status.code !== 0) return end(new EtcdCallError(`etcd at ${where} ended the ${method} call with ${GRPC_CODES[status.code] ?? "code"} (${status.code}): ${status.message}`, status.code));
    end();
  });
  return { where, session, request };
}

/** Status of the member at `endpoint`; rejects after `timeoutMs` without an answer. */
export function statusCall(endpoint: URL, tls: EtcdTls | undefined, timeoutMs: number): Promise<EtcdStatus> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    const call = startCall(endpoint, tls, "Status", (err) => {
      clearTimeout(timer);
      call.session.destroy();
      if (err) return reject(err);
      try {
        resolve(decodeStatusResponse(onlyMessage(Buffer.concat(parts))));
      } catch (e) {
        reject(e);
      }
    });
    let received = 0;
    call.request.on("data", (data: Buffer) => {
      parts.push(data);
      received += data.length;
      // A StatusResponse is a few hundred bytes: more than this is not etcd's answer.
      if (received > MAX_STATUS_BYTES) call.request.destroy(new EtcdWireError(`${call.where} sent more than ${MAX_STATUS_BYTES} bytes for Status: this is not etcd's answer`));
    });
    const timer = setTimeout(() => {
      reject(new EtcdCallError(`etcd at ${call.where} did not answer within ${timeoutMs / 1000} s`, 4));
      call.session.destroy();
    }, timeoutMs);
  });
}

/** What a Status answer may take at most. */
const MAX_STATUS_BYTES = 1024 * 1024;

/** The one message of a unary answer, without its 5-byte gRPC prefix. */
function onlyMessage(body: Buffer): Buffer {
  if (body.length < 5 || body[0] !== 0) throw new EtcdWireError(`the answer is not one gRPC message (${body.length} bytes${body.length ? `, first 0x${body[0]!.toString(16)}` : ""})`);
  const length = body.readUInt32BE(1);
  if (body.length !== 5 + length) throw new EtcdWireError(`the answer announces a ${length}-byte message and carries ${body.length - 5} bytes`);
  return body.subarray(5);
}

/** The snapshot stream of the member at `endpoint`: object mode, one SnapshotChunk per item. */
export function snapshotCall(endpoint: URL, tls: EtcdTls | undefined, pool?: ChunkPool): Readable {
  const decoder = new SnapshotResponseDecoder(pool);
  // One chunk waiting at most: with 1 MiB chunks, memory stays flat whatever the size of the database (two
  // cost 1 MiB more and bought no time: the compressor is what waits).
  const out = new Readable({
    objectMode: true,
    highWaterMark: 1,
    read: () => void call.request.resume(),
    destroy: (err, done) => {
      if (!call.request.closed) call.request.close(http2.constants.NGHTTP2_CANCEL);
      call.session.destroy();
      done(err);
    },
  });
  const push = (chunks: ReturnType<SnapshotResponseDecoder["write"]>) => {
    let more = true;
    for (const chunk of chunks) more = out.push(chunk);
    if (!more) call.request.pause();
  };
  const call = startCall(endpoint, tls, "Snapshot", (err) => {
    if (out.destroyed) return;
    if (err) return void out.destroy(err);
    try {
      push(decoder.end());
    } catch (e) {
      return void out.destroy(e as Error);
    }
    out.push(null);
    call.session.close();
  });
  call.request.on("data", (data: Buffer) => {
    try {
      push(decoder.write(data));
    } catch (err) {
      out.destroy(err as Error);
    }
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
