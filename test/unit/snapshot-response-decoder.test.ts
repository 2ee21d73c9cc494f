// etcd's snapshot stream as the bytes of its HTTP/2 body: gRPC-framed SnapshotResponse messages, merged into chunks
// that read exactly as the messages would, however the network cut the bytes.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { EtcdWireError } from "../../src/etcd/etcd-wire.js";
import { SnapshotResponseDecoder, type SnapshotChunk } from "../../src/etcd/snapshot-response-decoder.js";
import { bytesField, encode, etcdSnapshotBody, etcdStream, frame, key, numberField, varint } from "../support/snapshot-wire.js";

function decodeAll(decoder: SnapshotResponseDecoder, pieces: Buffer[]): SnapshotChunk[] {
  return [...pieces.flatMap((p) => decoder.write(p)), ...decoder.end()];
}

describe("the snapshot response decoder", () => {
  const db = randomBytes(300 * 1024 + 17);
  const stream = etcdStream(db);

  it("gives the database back in chunks of the size asked for after etcd's first message, the last one shorter", () => {
    const chunks = decodeAll(new SnapshotResponseDecoder(100 * 1024), [stream]);
    assert.deepEqual(chunks.map((c) => c.blob.length), [32768, 102400, 102400, 69649]);
    assert.ok(Buffer.concat(chunks.map((c) => c.blob)).equals(db));
  });

  it("says after each chunk what etcd still had to send, as its own messages would", () => {
    const chunks = decodeAll(new SnapshotResponseDecoder(100 * 1024), [stream]);
    let sent = 0;
    for (const chunk of chunks) {
      sent += chunk.blob.length;
      assert.equal(chunk.remaining_bytes, String(db.length - sent));
    }
  });

  it("carries etcd's header on the first chunk only, 64-bit numbers exact", () => {
    const chunks = decodeAll(new SnapshotResponseDecoder(100 * 1024), [stream]);
    assert.deepEqual(chunks[0]!.header, { cluster_id: String(0xcdef_0123_4567_89abn), member_id: "42", revision: "123456" });
    assert.ok(chunks.slice(1).every((c) => c.header === null));
  });

  describe("keeps the first message a chunk of its own: remaining_bytes plus blob is the size etcd announced", () => {
    // etcd 3.6 sends the header and size first, then the database, then its sha256 with remaining_bytes 0: merged
    // with the trailer, a small database would seem 32 bytes larger than announced.
    for (const size of [0, 1, 1000, 1024 * 1024 - 16, 1024 * 1024, 3 * 1024 * 1024 + 5]) {
      it(`a database of ${size} bytes`, () => {
        const db = randomBytes(size);
        const chunks = decodeAll(new SnapshotResponseDecoder(), [etcdSnapshotBody(db)]);
        assert.equal(Number(chunks[0]!.remaining_bytes) + chunks[0]!.blob.length, size);
        assert.equal(chunks[0]!.header?.revision, "77");
        const all = Buffer.concat(chunks.map((c) => c.blob));
        assert.ok(all.subarray(0, size).equals(db));
        assert.equal(all.length, size + 32);
        assert.equal(chunks.at(-1)!.remaining_bytes, "0");
        assert.ok(chunks.slice(1).every((c) => c.blob.length <= 1024 * 1024));
      });
    }
    it("and an etcd that sends the database from its first message on (3.4) reads the same", () => {
      const chunks = decodeAll(new SnapshotResponseDecoder(100 * 1024), [stream]);
      assert.equal(Number(chunks[0]!.remaining_bytes) + chunks[0]!.blob.length, db.length);
    });
  });

  it("reads the same whatever the network cut the bytes into: every split point of the stream", () => {
    const small = randomBytes(700);
    const bytes = etcdStream(small, 96);
    const want = decodeAll(new SnapshotResponseDecoder(256), [bytes]);
    for (let cut = 1; cut < bytes.length; cut++) {
      const got = decodeAll(new SnapshotResponseDecoder(256), [bytes.subarray(0, cut), bytes.subarray(cut)]);
      assert.deepEqual(got, want, `cut at byte ${cut}`);
    }
  });

  it("reads a stream delivered one byte at a time", () => {
    const small = randomBytes(500);
    const bytes = etcdStream(small, 64);
    const pieces = [...bytes].map((b) => Buffer.from([b]));
    const chunks = decodeAll(new SnapshotResponseDecoder(200), pieces);
    assert.ok(Buffer.concat(chunks.map((c) => c.blob)).equals(small));
    assert.equal(chunks.at(-1)!.remaining_bytes, "0");
  });

  it("reads fields in any order, as protobuf allows (remaining_bytes after the blob)", () => {
    const blob = randomBytes(300);
    const bytes = Buffer.concat([
      encode({ header: { cluster_id: 1n, member_id: 2n, revision: 3n }, remaining: 150n, blob: blob.subarray(0, 150) }, "blob-first"),
      encode({ remaining: 0n, blob: blob.subarray(150) }, "blob-first"),
    ]);
    const chunks = decodeAll(new SnapshotResponseDecoder(100), [bytes]);
    assert.deepEqual(chunks.map((c) => [c.blob.length, c.remaining_bytes]), [[100, "200"], [50, "150"], [100, "50"], [50, "0"]]);
    assert.equal(chunks[0]!.header?.revision, "3");
  });

  it("keeps a negative revision as etcd's int64 says it", () => {
    const bytes = encode({ header: { cluster_id: 1n, member_id: 2n, revision: -5n }, remaining: 0n, blob: Buffer.from("x") });
    assert.equal(decodeAll(new SnapshotResponseDecoder(), [bytes])[0]!.header?.revision, "-5");
  });

  it("skips fields it does not know, of every wire type, and empty messages", () => {
    const unknown = Buffer.concat([numberField(9, 7n), key(10, 1), Buffer.alloc(8), key(11, 5), Buffer.alloc(4), bytesField(12, Buffer.from("later field"))]);
    const bytes = Buffer.concat([frame(Buffer.alloc(0)), frame(Buffer.concat([unknown, numberField(2, 0n), bytesField(3, Buffer.from("db"))]))]);
    const chunks = decodeAll(new SnapshotResponseDecoder(), [bytes]);
    assert.deepEqual(chunks.map((c) => c.blob.toString()), ["", "db"]);
  });

  it("tells the size of an empty database in one empty chunk", () => {
    const chunks = decodeAll(new SnapshotResponseDecoder(), [encode({ header: { cluster_id: 1n, member_id: 2n, revision: 3n }, remaining: 0n })]);
    assert.equal(chunks.length, 1);
    assert.equal(chunks[0]!.blob.length, 0);
    assert.equal(chunks[0]!.remaining_bytes, "0");
  });

  it("gives nothing for a stream that carried no message", () => {
    assert.deepEqual(decodeAll(new SnapshotResponseDecoder(), []), []);
  });

  describe("bytes that are not etcd's snapshot stream fail with a EtcdWireError that says why", () => {
    const cases: [string, Buffer, RegExp][] = [
      ["a compressed message", frame(bytesField(3, Buffer.from("x")), 1), /message 1 is compressed/],
      ["a length read from garbage", Buffer.from("HTTP/1.1 200 OK\r\n"), /does not start with a gRPC prefix \(first byte 0x48\)/],
      ["a length beyond any etcd message", Buffer.from([0, 0x7f, 0xff, 0xff, 0xff]), /announces 2147483647 bytes/],
      ["a field running past its message", frame(Buffer.concat([key(3, 2), varint(100n), Buffer.from("short")])), /field 3 runs past the message's end/],
      ["a number cut off by the message's end", frame(Buffer.from([0x10, 0x80])), /number runs past/],
      ["a number longer than 64 bits", frame(Buffer.concat([Buffer.from([0x10]), Buffer.alloc(10, 0xff), Buffer.from([1])])), /longer than 64 bits/],
      ["a group (wire type 3)", frame(key(5, 3)), /wire type 3/],
      ["a header field that is not a number", frame(bytesField(1, bytesField(1, Buffer.from("x")))), /header's field 1 has wire type 2/],
    ];
    for (const [what, bytes, message] of cases) {
      it(what, () => assert.throws(() => decodeAll(new SnapshotResponseDecoder(), [bytes]), (err: Error) => err instanceof EtcdWireError && message.test(err.message)));
    }
  });

  describe("a stream cut off by the connection fails at its end, not as a short snapshot", () => {
    const whole = etcdStream(randomBytes(100), 40);
    it("inside a message", () => {
      assert.throws(() => decodeAll(new SnapshotResponseDecoder(), [whole.subarray(0, whole.length - 3)]), /ended inside message 3 \(\d+ of its \d+ bytes\)/);
    });
    it("inside a prefix", () => {
      const two = etcdStream(randomBytes(80), 40);
      assert.throws(() => decodeAll(new SnapshotResponseDecoder(), [Buffer.concat([two, Buffer.from([0, 0])])]), /ended inside message 3 \(2 bytes of its 5-byte prefix\)/);
    });
  });
});
