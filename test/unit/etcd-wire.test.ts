// etcd's answers decoded by hand, checked against protobufjs encoding the same messages from proto/etcd/rpc.proto:
// an encoder that is not twinsnap's own, with etcd's field numbers.
import assert from "node:assert/strict";
import { join } from "node:path";
import protobuf from "protobufjs";
import { decodeStatusResponse, EtcdWireError } from "../../src/etcd/etcd-wire.js";
import { SnapshotResponseDecoder } from "../../src/etcd/snapshot-response-decoder.js";
import { REPO_ROOT } from "../support/fixtures.js";
import { frame } from "../support/snapshot-wire.js";

const root = new protobuf.Root().loadSync(join(REPO_ROOT, "proto", "etcd", "rpc.proto"), { keepCase: true });
const StatusResponse = root.lookupType("etcdserverpb.StatusResponse");
const SnapshotResponse = root.lookupType("etcdserverpb.SnapshotResponse");
const encoded = (type: protobuf.Type, value: object) => Buffer.from(type.encode(type.fromObject(value)).finish());

describe("etcd's answers, decoded by hand", () => {
  it("a StatusResponse as etcd 3.6 sends it: 64-bit numbers exact, every field twinsnap reads", () => {
    const status = decodeStatusResponse(encoded(StatusResponse, {
      header: { cluster_id: "14841639068965178418", member_id: "10276657743932975437", revision: "9007199254740993", raft_term: "7" },
      version: "3.6.0",
      dbSize: "8589934592",
      leader: "10276657743932975437",
      raftIndex: "123",
      raftTerm: "7",
      raftAppliedIndex: "123",
      errors: ["NOSPACE", "CORRUPT"],
      dbSizeInUse: "4096",
      isLearner: true,
    }));
    assert.deepEqual(status, {
      header: { cluster_id: "14841639068965178418", member_id: "10276657743932975437", revision: "9007199254740993" },
      version: "3.6.0",
      dbSize: "8589934592",
      leader: "10276657743932975437",
      errors: ["NOSPACE", "CORRUPT"],
    });
  });

  it("fields etcd leaves at their defaults (proto3 omits them) read as zero and empty", () => {
    assert.deepEqual(decodeStatusResponse(Buffer.alloc(0)), { header: { cluster_id: "0", member_id: "0", revision: "0" }, version: "", dbSize: "0", leader: "0", errors: [] });
  });

  it("a StatusResponse cut short is an EtcdWireError, not a status of zeros", () => {
    const whole = encoded(StatusResponse, { header: { revision: "5" }, version: "3.6.0", dbSize: "100" });
    for (let cut = 1; cut < whole.length; cut++) {
      const part = whole.subarray(0, cut);
      // Some cuts fall between fields and leave a shorter valid message; the others must fail, never misread.
      try {
        const status = decodeStatusResponse(part);
        assert.ok(["0", "5"].includes(status.header.revision));
      } catch (err) {
        assert.ok(err instanceof EtcdWireError, `cut at ${cut}: ${(err as Error).message}`);
      }
    }
  });

  it("SnapshotResponse messages from protobufjs read as the stream etcd sends", () => {
    const blobs = [Buffer.alloc(0), Buffer.from("first part of the database"), Buffer.from("second part")];
    const messages = [
      encoded(SnapshotResponse, { header: { cluster_id: "1", member_id: "2", revision: "300" }, remaining_bytes: "37", version: "3.6.0" }),
      encoded(SnapshotResponse, { remaining_bytes: "11", blob: blobs[1] }),
      encoded(SnapshotResponse, { remaining_bytes: "0", blob: blobs[2] }),
    ];
    const decoder = new SnapshotResponseDecoder();
    const chunks = [...decoder.write(Buffer.concat(messages.map((m) => frame(m)))), ...decoder.end()];
    assert.equal(chunks[0]!.header?.revision, "300");
    assert.equal(chunks[0]!.remaining_bytes, "37");
    assert.equal(Buffer.concat(chunks.map((c) => c.blob)).toString(), "first part of the databasesecond part");
    assert.equal(chunks.at(-1)!.remaining_bytes, "0");
  });
});
