// The plugin's gRPC server, spoken to by grpc-js as a client (as Velero's grpc-go speaks to it in the
// conformance and e2e suites), and by raw HTTP/2 for what no well-behaved client sends.
import assert from "node:assert/strict";
import { once } from "node:events";
import http2 from "node:http2";
import { connect } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { GrpcServer, GrpcStatus, MessageReader, percentEncoded, type DuplexCall, type ServerStreamCall, type UnaryCall } from "../../src/grpc/grpc-server.js";
import { Services } from "../../src/grpc/services.js";
import { UNLIMITED_MESSAGES, Wire } from "../support/wire-clients.js";

const framed = (body: Buffer, flag = 0) => Buffer.concat([Buffer.from([flag, body.length >>> 24, (body.length >>> 16) & 0xff, (body.length >>> 8) & 0xff, body.length & 0xff]), body]);

describe("the plugin's gRPC server", () => {
  describe("reading messages", () => {
    it("finds the same messages however the bytes are cut", () => {
      const messages = [Buffer.from("first"), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from("last")];
      const wire = Buffer.concat(messages.map((m) => framed(m)));
      for (const step of [1, 2, 5, 6, 4096, 65_536, wire.length]) {
        const reader = new MessageReader();
        const got: Buffer[] = [];
        for (let at = 0; at < wire.length; at += step) got.push(...reader.push(wire.subarray(at, at + step)).map((b) => Buffer.from(b)));
        assert.deepEqual(got, messages, `cut every ${step} bytes`);
        assert.equal(reader.pending(), false);
      }
    });

    it("holds a message cut short, and refuses a compressed one", () => {
      const reader = new MessageReader();
      assert.deepEqual(reader.push(framed(Buffer.from("abcdef")).subarray(0, 8)), []);
      assert.equal(reader.pending(), true);
      assert.throws(() => new MessageReader().push(framed(Buffer.from("x"), 1)), /compressed messages are not supported/);
    });

    it("percent-encodes a status message as gRPC requires", () => {
      assert.equal(percentEncoded("100% sure: ümlaut\n"), "100%25 sure: %C3%BCmlaut%0A");
    });
  });

  describe("over a unix socket", () => {
    let dir: string;
    let server: GrpcServer;
    let socket: string;
    const cancelled: string[] = [];
    const kept: Buffer[] = [];
    const clients: grpc.Client[] = [];
    const client = (ctor: grpc.ServiceClientConstructor) => {
      const c = new ctor(`unix://${socket}`, grpc.credentials.createInsecure(), UNLIMITED_MESSAGES);
      clients.push(c);
      return c as grpc.Client & Record<string, Function>;
    };
    const unary = (c: grpc.Client & Record<string, Function>, method: string, req: unknown) =>
      new Promise<Record<string, any>>((resolve, reject) => c[method]!(req, (e: grpc.ServiceError | null, r: Record<string, any>) => (e ? reject(e) : resolve(r))));

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "grpc-server-"));
      socket = join(dir, "plugin.sock");
      server = new GrpcServer();
      server.addService(Services.Health, {
        // "echo:<n>" answers a status of n bytes; "fail" fails with a message that needs encoding; "slow" waits
        Check: (call: UnaryCall<{ service: string }>, done: (err: { code: 5 | 2; details: string } | null, res?: unknown) => void) => {
          const s = call.request.service;
          if (s === "fail") return done({ code: GrpcStatus.NOT_FOUND, details: "no service “fail” (100%)" });
          if (s === "slow") return void setTimeout(() => done(null, { status: "SERVING" }), 2000);
          if (s === "unencodable") return done(null, { status: "ASLEEP" });
          done(null, { status: "SERVING" });
        },
        Watch: (call: ServerStreamCall<{ service: string }, unknown>) => {
          call.on("cancelled", () => cancelled.push(`watch ${call.request.service}`));
          call.write({ status: "SERVING" });
          call.write({ status: "NOT_SERVING" });
          if (call.request.service !== "forever") call.end();
        },
      });
      server.addService(Services.BackupItemActionV2, {
        Execute: (call: UnaryCall<{ item: Buffer }>, done: (err: null, res: unknown) => void) => {
          kept.push(call.request.item);
          setTimeout(() => done(null, { item: call.request.item }), 5); // answers with the very bytes it was sent
        },
      });
      server.addService(Services.GRPCBroker, {
        StartStream: (call: DuplexCall<unknown>) => {
          call.on("data", (m: { service_id: number }) => call.write({ service_id: m.service_id * 2, address: "x".repeat(m.service_id) }));
          call.on("end", () => call.end());
        },
      });
      await server.listen(socket);
    });
    after(async () => {
      for (const c of clients) c.close();
      await new Promise<void>((resolve) => server.tryShutdown(resolve));
      rmSync(dir, { recursive: true, force: true });
    });

    it("answers a unary call, and a failed one with its code and its message intact", async () => {
      const health = client(Wire.Health);
      assert.equal((await unary(health, "Check", { service: "" })).status, "SERVING");
      await assert.rejects(unary(health, "Check", { service: "fail" }), { code: grpc.status.NOT_FOUND, details: "no service “fail” (100%)" });
    });

    it("an answer that does not encode ends the call with INTERNAL, and the server goes on", async () => {
      const health = client(Wire.Health);
      await assert.rejects(unary(health, "Check", { service: "unencodable" }), { code: grpc.status.INTERNAL, details: /does not encode as \/grpc.health.v1.Health\/Check's: .*ASLEEP is not one of its values/ });
      assert.equal((await unary(health, "Check", { service: "" })).status, "SERVING");
    });

    it("streams answers, and tells the handler when the client goes away", async () => {
      const health = client(Wire.Health);
      const got: string[] = [];
      const stream = health.Watch!({ service: "once" }) as grpc.ClientReadableStream<{ status: string }>;
      stream.on("data", (m) => got.push(m.status));
      await once(stream, "end");
      assert.deepEqual(got, ["SERVING", "NOT_SERVING"]);
      const forever = health.Watch!({ service: "forever" }) as grpc.ClientReadableStream<{ status: string }>;
      forever.on("error", () => undefined);
      await once(forever, "data");
      forever.cancel();
      for (let i = 0; i < 50 && !cancelled.includes("watch forever"); i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(cancelled, ["watch forever"]);
    });

    it("carries streams both ways, and messages larger than the flow-control windows", async () => {
      const broker = client(Wire.GRPCBroker);
      const stream = broker.StartStream!() as grpc.ClientDuplexStream<{ service_id: number }, { service_id: number; address: string }>;
      const got: number[] = [];
      stream.on("data", (m) => got.push(m.address.length));
      for (const n of [1, 3, 5_000_000]) stream.write({ service_id: n });
      stream.end();
      await once(stream, "end");
      assert.deepEqual(got, [1, 3, 5_000_000]);
    });

    it("frees a unary request once it has answered: the answer is whole, a view an action kept reads as empty", async () => {
      const action = client(Wire.BackupItemActionV2);
      const items = await Promise.all([1, 2, 3].map((n) => unary(action, "Execute", { plugin: "p", item: Buffer.alloc(5000 * n, String(n)), backup: Buffer.from("{}") })));
      assert.deepEqual(items.map((r) => [r.item.length, r.item[0]]), [[5000, 0x31], [10000, 0x32], [15000, 0x33]]);
      assert.equal(kept.length, 3);
      assert.ok(kept.every((b) => b.length === 0 && (b.buffer as ArrayBuffer).detached));
    });

    it("answers UNIMPLEMENTED for a method it does not serve", async () => {
      const lister = client(Wire.PluginLister);
      await assert.rejects(unary(lister, "ListPlugins", {}), { code: grpc.status.UNIMPLEMENTED, details: /unknown method \/generated.PluginLister\/ListPlugins/ });
    });

    describe("what no well-behaved client sends", () => {
      const raw = async (headers: http2.OutgoingHttpHeaders, body: Buffer) => {
        const session = http2.connect("http://localhost", { createConnection: () => connect(socket) });
        try {
          const req = session.request({ ":method": "POST", "content-type": "application/grpc", ...headers });
          const answer: { status?: number; grpcStatus?: string; grpcMessage?: string } = {};
          req.on("response", (h) => {
            answer.status = h[":status"];
            answer.grpcStatus ??= h["grpc-status"] as string | undefined;
            answer.grpcMessage ??= h["grpc-message"] as string | undefined;
          });
          req.on("trailers", (t) => {
            answer.grpcStatus = t["grpc-status"] as string;
            answer.grpcMessage = t["grpc-message"] as string | undefined;
          });
          req.on("data", () => undefined);
          req.end(body);
          await once(req, "close");
          return answer;
        } finally {
          session.close();
        }
      };
      const check = { ":path": "/grpc.health.v1.Health/Check" };
      const request = Buffer.from([0x0a, 0x00]); // HealthCheckRequest{service: ""}

      it("a request that is not gRPC", async () => {
        assert.equal((await raw({ ...check, "content-type": "text/plain" }, Buffer.from("hi"))).status, 415);
      });
      it("a compressed message, a request cut inside a message, two messages to a unary method, bytes that are not the message", async () => {
        assert.deepEqual(await raw(check, framed(request, 1)), { status: 200, grpcStatus: String(GrpcStatus.UNIMPLEMENTED), grpcMessage: "compressed messages are not supported (grpc-encoding identity only)" });
        assert.equal((await raw(check, framed(request).subarray(0, 6))).grpcStatus, String(GrpcStatus.INTERNAL));
        assert.match((await raw(check, Buffer.concat([framed(request), framed(request)]))).grpcMessage ?? "", /takes one request message, got 2/);
        assert.equal((await raw(check, framed(Buffer.from([0xff, 0xff, 0xff])))).grpcStatus, String(GrpcStatus.INTERNAL));
      });
      it("and then a good call still works", async () => {
        assert.deepEqual(await raw(check, framed(request)), { status: 200, grpcStatus: "0", grpcMessage: undefined });
      });
    });
  });
});
