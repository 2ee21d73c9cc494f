// etcd's Maintenance calls (Status, Snapshot) over Node's HTTP/2, against loopback servers that answer as etcd
// does and as it does not: a refusal before any message, a plain HTTP server, a connection cut halfway, a stream
// without its status, a member that never answers, a reader slower than the network, a reader that gives up.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { EtcdMaintenance, SnapshotChunk } from "../../src/etcd/etcd-client.js";
import { EtcdCallError, snapshotCall, statusCall } from "../../src/etcd/etcd-call.js";
import { EtcdWireError } from "../../src/etcd/etcd-wire.js";
import { saveSnapshot, SnapshotStreamError } from "../../src/etcd/snapshot.js";
import { FilesystemStore } from "../../src/store/filesystem-store.js";
import { bytesField, encode, etcdSnapshotBody, frame, numberField } from "../support/snapshot-wire.js";

type Answer = (stream: http2.ServerHttp2Stream, path: string) => void;

/** An HTTP/2 server on loopback that answers the snapshot call with `answer`. */
async function fakeEtcd(answer: Answer, host = "127.0.0.1"): Promise<{ url: URL; server: http2.Http2Server; close: () => Promise<void> }> {
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined); // a reset the answer itself sends, or the client's cancel
    answer(stream, String(headers[":path"]));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const url = new URL(`http://${host.includes(":") ? `[${host}]` : host}:${(server.address() as AddressInfo).port}`);
  return { url, server, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** A StatusResponse: header (revision 77), version "3.6.0", dbSize 1 MiB. */
const frameStatus = frame(Buffer.concat([bytesField(1, numberField(3, 77n)), bytesField(2, Buffer.from("3.6.0")), numberField(3, 1048576n)]));

const grpcHeaders = { ":status": 200, "content-type": "application/grpc" };

/** What etcd does: the messages, then grpc-status 0 in the trailers. */
const answersWith = (body: Buffer): Answer => (stream) => {
  stream.respond(grpcHeaders, { waitForTrailers: true });
  stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  stream.end(body);
};

async function readAll(stream: AsyncIterable<unknown>): Promise<SnapshotChunk[]> {
  const chunks: SnapshotChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk as SnapshotChunk);
  return chunks;
}

/** saveSnapshot's view of a member: the status a fake reports, the stream the real call gets. */
function maintenanceAt(url: URL, db: Buffer): EtcdMaintenance {
  return {
    status: async () => ({ header: { cluster_id: "1", member_id: "2", revision: "77" }, version: "3.6.0", dbSize: String(db.length), leader: "2", errors: [] }),
    snapshot: async () => snapshotCall(url, undefined),
    close: () => undefined,
  };
}

const store = () => new FilesystemStore(mkdtempSync(join(tmpdir(), "twinsnap-unit-snapcall-")));

describe("etcd's calls over HTTP/2", () => {
  const servers: { close: () => Promise<void> }[] = [];
  const serve = async (answer: Answer, host?: string) => {
    const s = await fakeEtcd(answer, host);
    servers.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it("Status: the member's answer, decoded", async () => {
    const { url } = await serve((stream, path) => {
      assert.equal(path, "/etcdserverpb.Maintenance/Status");
      answersWith(frameStatus)(stream, path);
    });
    const status = await statusCall(url, undefined, 5000);
    assert.equal(status.version, "3.6.0");
    assert.equal(status.dbSize, "1048576");
    assert.equal(status.header.revision, "77");
  });

  it("Status and Snapshot: a member on IPv6 loopback ([::1], as a dual-stack control plane names it)", async () => {
    const db = randomBytes(1000);
    const { url } = await serve((stream, path) => answersWith(path.endsWith("/Status") ? frameStatus : etcdSnapshotBody(db))(stream, path), "::1");
    assert.equal(url.hostname, "[::1]");
    assert.equal((await statusCall(url, undefined, 5000)).version, "3.6.0");
    const chunks = await readAll(snapshotCall(url, undefined));
    assert.ok(Buffer.concat(chunks.map((c) => c.blob)).subarray(0, 1000).equals(db));
  });

  it("Status: a member that accepts the connection and never answers fails after the timeout given", async () => {
    const { url } = await serve(() => undefined);
    const started = Date.now();
    await assert.rejects(statusCall(url, undefined, 300), (err: Error) => err instanceof EtcdCallError && err.grpcCode === 4 && /did not answer within 0.3 s/.test(err.message));
    assert.ok(Date.now() - started < 3000);
  });

  it("Status: a server that answers without end is cut off at 1 MiB, not read into memory for the whole timeout", async () => {
    const { url } = await serve((stream) => {
      stream.respond(grpcHeaders);
      const junk = Buffer.alloc(64 * 1024, 1);
      const more = () => {
        while (!stream.destroyed && stream.write(junk));
        if (!stream.destroyed) stream.once("drain", more);
      };
      more();
    });
    await assert.rejects(statusCall(url, undefined, 10_000), (err: Error) => /sent more than 1048576 bytes for Status/.test(err.message));
  });

  it("Status: an answer that is not one message is an EtcdWireError", async () => {
    const { url } = await serve(answersWith(Buffer.concat([frameStatus, frameStatus])));
    await assert.rejects(statusCall(url, undefined, 5000), (err: Error) => err instanceof EtcdWireError && /announces a \d+-byte message and carries \d+ bytes/.test(err.message));
  });

  it("Snapshot: gives the database etcd sent, in chunks of 1 MiB after the first message, with etcd's header", async () => {
    const db = randomBytes(3 * 1024 * 1024 + 100);
    const { url } = await serve(answersWith(etcdSnapshotBody(db)));
    const chunks = await readAll(snapshotCall(url, undefined));
    const all = Buffer.concat(chunks.map((c) => c.blob));
    assert.ok(all.subarray(0, db.length).equals(db));
    assert.ok(all.subarray(db.length).equals(createHash("sha256").update(db).digest()));
    assert.equal(chunks[0]!.header?.revision, "77");
    assert.deepEqual(chunks.slice(1, -1).map((c) => c.blob.length), [1048576, 1048576, 1048576]);
  });

  it("is stored and verified by saveSnapshot like any etcd stream", async () => {
    const db = randomBytes(2 * 1024 * 1024 + 7);
    const { url } = await serve(answersWith(etcdSnapshotBody(db)));
    const record = await saveSnapshot(maintenanceAt(url, db), store(), "snapshots/over-http2.db.zst");
    const sent = Buffer.concat([db, createHash("sha256").update(db).digest()]);
    assert.equal(record.snapshotBytes, sent.length);
    assert.equal(record.snapshotSha256, createHash("sha256").update(sent).digest("hex"));
  });

  it("a refusal before any message (trailers only) names gRPC's code and etcd's words, and is not retried", async () => {
    const { url } = await serve((stream) =>
      stream.respond({ ...grpcHeaders, "grpc-status": "7", "grpc-message": encodeURIComponent("etcdserver: permission denied") }, { endStream: true }),
    );
    await assert.rejects(readAll(snapshotCall(url, undefined)), (err: Error) => {
      assert.ok(err instanceof EtcdCallError);
      assert.equal(err.grpcCode, 7);
      assert.match(err.message, /ended the Snapshot call with PERMISSION_DENIED \(7\): etcdserver: permission denied$/);
      return true;
    });
    await assert.rejects(saveSnapshot(maintenanceAt(url, Buffer.alloc(10)), store(), "snapshots/refused.db.zst"), (err: Error) => {
      assert.ok(err instanceof SnapshotStreamError);
      assert.equal(err.recoverable, false);
      return true;
    });
  });

  it("an error status after part of the stream (etcd going away) is retried", async () => {
    const db = randomBytes(1024 * 1024);
    const half = etcdSnapshotBody(db).subarray(0, 400 * 1024);
    const { url } = await serve((stream) => {
      stream.respond(grpcHeaders, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "14", "grpc-message": "etcdserver: server stopped" }));
      stream.end(half);
    });
    await assert.rejects(saveSnapshot(maintenanceAt(url, db), store(), "snapshots/stopped.db.zst"), (err: Error) => {
      assert.ok(err instanceof SnapshotStreamError);
      assert.match(err.message, /UNAVAILABLE \(14\): etcdserver: server stopped/);
      assert.equal(err.recoverable, true);
      return true;
    });
  });

  it("a server that is not etcd's gRPC (a plain HTTP answer) is named as such", async () => {
    const { url } = await serve((stream) => {
      stream.respond({ ":status": 404, "content-type": "text/plain" });
      stream.end("404 page not found\n");
    });
    await assert.rejects(readAll(snapshotCall(url, undefined)), /is not an etcd gRPC endpoint: it answered HTTP 404 \(text\/plain\)/);
  });

  it("a connection cut halfway fails, and saveSnapshot stores nothing and says to retry", async () => {
    const db = randomBytes(1024 * 1024);
    const { url } = await serve((stream) => {
      stream.respond(grpcHeaders);
      stream.write(etcdSnapshotBody(db).subarray(0, 300 * 1024), () => stream.session?.destroy());
    });
    await assert.rejects(readAll(snapshotCall(url, undefined)), /closed before its end \(HTTP\/2 code 8\): the member stopped or the connection was cut/);
    const target = store();
    await assert.rejects(saveSnapshot(maintenanceAt(url, db), target, "snapshots/reset.db.zst"), (err: Error) => err instanceof SnapshotStreamError && err.recoverable);
    assert.deepEqual(await target.list("snapshots/"), []);
  });

  it("a stream that ends without a gRPC status was cut, even when its bytes look whole", async () => {
    const db = randomBytes(1000);
    const { url } = await serve((stream) => {
      stream.respond(grpcHeaders);
      stream.end(etcdSnapshotBody(db));
    });
    await assert.rejects(readAll(snapshotCall(url, undefined)), /ended the Snapshot stream without a gRPC status/);
  });

  it("bytes that are not SnapshotResponse messages fail the call with what was wrong", async () => {
    const { url } = await serve(answersWith(Buffer.concat([encode({ remaining: 0n, blob: Buffer.from("x") }), Buffer.from("<html>")])));
    await assert.rejects(readAll(snapshotCall(url, undefined)), /message 2 does not start with a gRPC prefix \(first byte 0x3c\)/);
  });

  it("a reader slower than etcd holds etcd back: a few MiB in flight, not the database", async () => {
    const message = encode({ remaining: 1n, blob: Buffer.alloc(32 * 1024, 7) });
    let written = 0;
    const total = 64 * 1024 * 1024;
    const { url } = await serve((stream) => {
      stream.respond(grpcHeaders, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      const more = () => {
        while (written < total) {
          written += message.length;
          if (!stream.write(message)) return void stream.once("drain", more);
        }
        stream.end();
      };
      more();
    });
    const call = snapshotCall(url, undefined);
    const first = await new Promise<SnapshotChunk>((resolve) => call.once("data", (c: SnapshotChunk) => (call.pause(), resolve(c))));
    await sleep(500);
    assert.ok(written < 8 * 1024 * 1024, `etcd was let send ${written} bytes to a reader that took ${first.blob.length}`);
    call.resume();
    let received = first.blob.length;
    for await (const chunk of call) received += (chunk as SnapshotChunk).blob.length;
    assert.equal(received, Math.ceil(total / message.length) * 32 * 1024);
  });

  it("a reader that gives up cancels the stream on etcd's side", async () => {
    let serverSaw: number | undefined;
    const closed = new Promise<void>((resolve) => {
      void serve((stream) => {
        stream.respond(grpcHeaders);
        const message = encode({ remaining: 1n, blob: Buffer.alloc(32 * 1024) });
        const more = () => {
          while (!stream.closed) if (!stream.write(message)) return void stream.once("drain", more);
        };
        stream.on("close", () => ((serverSaw = stream.rstCode), resolve()));
        more();
      }).then(({ url }) => {
        const call = snapshotCall(url, undefined);
        call.once("data", () => call.destroy());
      });
    });
    await closed;
    assert.equal(serverSaw, http2.constants.NGHTTP2_CANCEL);
  });

  it("a port where nothing listens is a connection error naming the endpoint", async () => {
    const { url, close } = await fakeEtcd(() => undefined);
    await close();
    await assert.rejects(readAll(snapshotCall(url, undefined)), new RegExp(`the connection to etcd at ${url.origin} failed: .*ECONNREFUSED`));
  });
});
