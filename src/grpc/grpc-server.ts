// A gRPC server on node:http2, for the plugin's unix socket: unary, server-streaming and bidirectional methods
// over h2c, identity encoding only (go-plugin and Velero compress nothing), messages as long as Velero sends.
// The wire: https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md (a 5-byte prefix per message, the
// status in trailers, or a trailers-only answer when there is no message).
// Why not grpc-js: per call it built a call object, metadata, an interceptor and a listener chain, and copied each
// message into a buffer of its own. Under Velero's load those outlived young collections, and the plugin process
// grew from 72 to 150 MiB before a full collection freed them (bench/results/plugin-execute.json).
import { EventEmitter } from "node:events";
import http2 from "node:http2";
import { rmSync } from "node:fs";

/** The status codes twinsnap answers with (grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
} as const;
export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/** What a method is on the wire (services.ts; @grpc/proto-loader's method definitions have this shape too). */
export interface MethodDefinition {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestDeserialize(bytes: Buffer): unknown;
  responseSerialize(value: never): Buffer;
  /** The same with 5 bytes free in front, for the frame header: one buffer per message, no copy. */
  responseSerializeFramed?(value: never): Buffer;
}
export type ServiceDefinition = Record<string, MethodDefinition>;

export interface ServiceError {
  code: GrpcStatusCode;
  details: string;
}

export interface UnaryCall<Req> {
  readonly request: Req;
}
export type UnaryHandler<Req, Res> = (call: UnaryCall<Req>, done: (err: ServiceError | null, response?: Res) => void) => void;

/** A call whose answer is a stream. Emits "cancelled" when the client goes away first. */
export interface ServerStreamCall<Req, Res> extends EventEmitter {
  readonly request: Req;
  write(message: Res): void;
  end(): void;
}
export type ServerStreamHandler<Req, Res> = (call: ServerStreamCall<Req, Res>) => void;

/** A call with streams both ways. Emits "data" per message, "end" when the client is done, "cancelled". */
export interface DuplexCall<Res> extends EventEmitter {
  write(message: Res): void;
  end(): void;
}
export type DuplexHandler<Res> = (call: DuplexCall<Res>) => void;

const WINDOW_BYTES = 1024 * 1024;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyHandler = (call: any, done?: any) => void;

export class GrpcServer {
  private readonly routes = new Map<string, { method: MethodDefinition; handler: AnyHandler }>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  // Windows of 1 MiB: a large item (a CRD, a ConfigMap of MiBs) arrives without a round trip per 64 KiB.
  private readonly server = http2.createServer({ settings: { initialWindowSize: WINDOW_BYTES }, maxSessionMemory: 256 });
  private socketPath: string | undefined;

  constructor() {
    this.server.on("session", (session) => {
      this.sessions.add(session);
      session.setLocalWindowSize(16 * WINDOW_BYTES);
      session.on("close", () => this.sessions.delete(session));
      session.on("error", () => undefined); // a host that goes away: its calls end with it
    });
    this.server.on("stream", (stream, headers) => this.serve(stream, headers));
  }

  /** The methods `implementation` names; a method it leaves out answers UNIMPLEMENTED. */
  addService(service: ServiceDefinition, implementation: Record<string, AnyHandler>): void {
    for (const [name, handler] of Object.entries(implementation)) {
      const method = service[name];
      if (!method) throw new Error(`the service has no method ${name}`);
      this.routes.set(method.path, { method, handler });
    }
  }

  listen(socketPath: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(socketPath, () => {
        this.server.off("error", reject);
        this.socketPath = socketPath;
        resolve();
      });
    });
  }

  /** Takes no new connections; calls in progress finish. `done` once every connection has closed. */
  tryShutdown(done: () => void): void {
    this.server.close(() => done());
    for (const session of this.sessions) session.close();
  }

  forceShutdown(): void {
    for (const session of this.sessions) session.destroy();
    this.server.close();
    if (this.socketPath) rmSync(this.socketPath, { force: true });
  }

  private serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on("error", () => undefined); // reset by the client: "cancelled" tells the handler
    const contentType = headers["content-type"];
    if (headers[":method"] !== "POST" || typeof contentType !== "string" || !contentType.startsWith("application/grpc")) {
      stream.respond({ ":status": 415 }, { endStream: true });
      return;
    }
    const route = this.routes.get(headers[":path"] ?? "");
    const call = new Call(stream, route?.method);
    if (!route) return call.fail(GrpcStatus.UNIMPLEMENTED, `unknown method ${headers[":path"]}`);
    call.start(route.handler);
  }
}

/** One call: reads length-prefixed messages from the request, writes them to the response. */
class Call extends EventEmitter {
  request: unknown;
  private readonly reader = new MessageReader();
  private responded = false;
  private finished = false;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly method: MethodDefinition | undefined,
  ) {
    super();
    stream.on("close", () => {
      if (!this.finished) {
        this.finished = true;
        this.emit("cancelled");
      }
    });
  }

  start(handler: AnyHandler): void {
    const method = this.method!;
    const messages: unknown[] = [];
    // A unary request is decoded from a copy the call owns and frees once it has answered. A view of HTTP/2's
    // read buffer would hold that buffer (up to 64 KiB, several requests) for as long as the action runs: under
    // Velero's load such buffers outlived young collections and the plugin grew by tens of MiB until a full one.
    const owned: ArrayBuffer[] = [];
    if (method.requestStream) handler(this);
    this.stream.on("data", (chunk: Buffer) => {
      let bytes: Buffer[];
      try {
        bytes = this.reader.push(chunk);
      } catch (err) {
        return this.fail(GrpcStatus.UNIMPLEMENTED, (err as Error).message);
      }
      for (let b of bytes) {
        if (!method.requestStream) {
          const copy = Buffer.allocUnsafeSlow(b.length);
          b.copy(copy);
          owned.push(copy.buffer as ArrayBuffer);
          b = copy;
        }
        let message: unknown;
        try {
          message = method.requestDeserialize(b);
        } catch (err) {
          return this.fail(GrpcStatus.INTERNAL, `the request does not decode as ${method.path}'s: ${(err as Error).message}`);
        }
        if (method.requestStream) this.emit("data", message);
        else messages.push(message);
      }
    });
    this.stream.on("end", () => {
      if (this.finished) return;
      if (this.reader.pending()) return this.fail(GrpcStatus.INTERNAL, "the request ended inside a message");
      if (method.requestStream) return void this.emit("end");
      if (messages.length !== 1) return this.fail(GrpcStatus.INTERNAL, `${method.path} takes one request message, got ${messages.length}`);
      this.request = messages[0];
      if (method.responseStream) return handler(this);
      handler(this, (err: ServiceError | null, response?: unknown) => {
        if (err) this.fail(err.code, err.details);
        else this.answer(response);
        // The answer is written (encoded into a buffer of its own): nothing reads the request any more. A view
        // of it that an action kept would read as empty, never as other bytes.
        for (const memory of owned) memory.transfer(0);
      });
    });
  }

  write(message: unknown): void {
    if (this.finished) return;
    const framed = this.framed(message);
    if (!framed) return;
    this.respond();
    this.stream.write(framed);
  }

  /** A unary call's answer: the message goes out with the end of the stream, the status right after. */
  private answer(message: unknown): void {
    if (this.finished) return;
    const framed = this.framed(message);
    if (!framed) return;
    this.respond();
    this.finish(GrpcStatus.OK, "", framed);
  }

  /** The message with its 5-byte prefix; one that does not encode ends the call with INTERNAL, not a hang. */
  private framed(message: unknown): Buffer | undefined {
    const method = this.method!;
    let framed: Buffer;
    try {
      if (method.responseSerializeFramed) framed = method.responseSerializeFramed(message as never);
      else {
        const body = method.responseSerialize(message as never);
        framed = Buffer.allocUnsafe(5 + body.length);
        body.copy(framed, 5);
      }
    } catch (err) {
      this.fail(GrpcStatus.INTERNAL, `the answer does not encode as ${method.path}'s: ${(err as Error).message}`);
      return undefined;
    }
    framed[0] = 0;
    framed.writeUInt32BE(framed.length - 5, 1);
    return framed;
  }

  end(): void {
    this.finish(GrpcStatus.OK, "");
  }

  /** A status other than OK: trailers-only when nothing was answered yet, as gRPC servers do. */
  fail(code: GrpcStatusCode, details: string): void {
    if (this.finished) return;
    if (this.responded) return this.finish(code, details);
    this.finished = true;
    if (this.stream.destroyed) return;
    this.stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": String(code), "grpc-message": percentEncoded(details) }, { endStream: true });
  }

  private respond(): void {
    if (this.responded) return;
    this.responded = true;
    this.stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  }

  private finish(code: GrpcStatusCode, details: string, last?: Buffer): void {
    if (this.finished) return;
    this.respond();
    this.finished = true;
    if (this.stream.destroyed) return;
    this.stream.once("wantTrailers", () => {
      try {
        this.stream.sendTrailers({ "grpc-status": String(code), ...(details ? { "grpc-message": percentEncoded(details) } : {}) });
      } catch {
        // the client reset the stream meanwhile: nobody to tell
      }
    });
    if (last) this.stream.end(last);
    else this.stream.end();
  }
}

/**
 * Splits a request's bytes into messages. A message inside one chunk is a view of it, not a copy: HTTP/2 delivers
 * Velero's items (a few KiB) whole in one DATA frame almost always.
 */
export class MessageReader {
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** All the bytes the held message needs (prefix and body), once its prefix is here; 0 before. */
  private needed = 0;

  /** The messages `chunk` completes. Throws on a compressed message (this server announces no compression). */
  push(chunk: Buffer): Buffer[] {
    let data = chunk;
    if (this.heldBytes > 0) {
      // A message split across chunks is joined once, when all of it is here (not once per chunk).
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      if (this.needed === 0 && this.heldBytes >= 5) this.needed = 5 + Buffer.concat(this.held, 5).readUInt32BE(1);
      if (this.heldBytes < Math.max(this.needed, 5)) return [];
      data = Buffer.concat(this.held, this.heldBytes);
      this.held = [];
      this.heldBytes = 0;
      this.needed = 0;
    }
    const out: Buffer[] = [];
    let at = 0;
    while (data.length - at >= 5) {
      if (data[at] !== 0) throw new Error("compressed messages are not supported (grpc-encoding identity only)");
      const length = data.readUInt32BE(at + 1);
      if (data.length - at - 5 < length) break;
      out.push(data.subarray(at + 5, at + 5 + length));
      at += 5 + length;
    }
    if (at < data.length) {
      this.held.push(data.subarray(at));
      this.heldBytes = data.length - at;
      if (this.heldBytes >= 5) this.needed = 5 + data.readUInt32BE(at + 1);
    }
    return out;
  }

  pending(): boolean {
    return this.heldBytes > 0;
  }
}

/** grpc-message is percent-encoded UTF-8 (PROTOCOL-HTTP2.md): every byte outside printable ASCII, and "%". */
export function percentEncoded(text: string): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
