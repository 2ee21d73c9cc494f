import assert from "node:assert/strict";
import { handshakeLine, negotiateHandshake, NotStartedByVeleroError, ProtocolVersionError } from "../../src/velero-plugin/handshake.js";

describe("go-plugin handshake", () => {
  it("accepts Velero's cookie and protocol version 2", () => {
    const d = negotiateHandshake({ VELERO_PLUGIN: "hello", PLUGIN_PROTOCOL_VERSIONS: "2", PLUGIN_UNIX_SOCKET_DIR: "/run/velero" });
    assert.equal(d.appProtocolVersion, 2);
    assert.equal(d.socketDir, "/run/velero");
    assert.equal(handshakeLine(d, "/run/velero/plugin123"), "1|2|unix|/run/velero/plugin123|grpc|");
  });

  it("picks 2 from a list of offered versions, and accepts a host that offers none (legacy)", () => {
    assert.equal(negotiateHandshake({ VELERO_PLUGIN: "hello", PLUGIN_PROTOCOL_VERSIONS: "1, 2,3" }).appProtocolVersion, 2);
    assert.equal(negotiateHandshake({ VELERO_PLUGIN: "hello" }).appProtocolVersion, 2);
  });

  it("refuses without the cookie, or with a different value", () => {
    assert.throws(() => negotiateHandshake({}), NotStartedByVeleroError);
    assert.throws(() => negotiateHandshake({ VELERO_PLUGIN: "HELLO" }), NotStartedByVeleroError);
  });

  it("refuses a host without version 2, naming what it offered", () => {
    assert.throws(() => negotiateHandshake({ VELERO_PLUGIN: "hello", PLUGIN_PROTOCOL_VERSIONS: "1" }), (e: unknown) => e instanceof ProtocolVersionError && e.offered === "1");
  });

  it("adds the multiplexing field only for a host that asked", () => {
    const d = negotiateHandshake({ VELERO_PLUGIN: "hello", PLUGIN_MULTIPLEX_GRPC: "true" });
    assert.equal(handshakeLine(d, "/tmp/p"), "1|2|unix|/tmp/p|grpc||false");
  });
});
