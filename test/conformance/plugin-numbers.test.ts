// What the plugin hands back to Velero is what Velero stores: through the real plugin process, an item no rule
// changes comes back byte for byte, numbers of any size and float text survive a change elsewhere in the item,
// and an item too deep to re-encode is kept as Velero sent it instead of being left out of the backup.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jsonBytes, PluginHost } from "../support/go-plugin-host.js";
import { fixture, pluginForms } from "../support/fixtures.js";

const NAME = "twinsnap.dev/strip-runtime-fields";
const OFFLINE = { HOME: mkdtempSync(join(tmpdir(), "twinsnap-home-")), KUBECONFIG: "", KUBERNETES_SERVICE_HOST: "" };
type Reply = Record<string, unknown> & { item: Buffer };

/** A custom resource as Go's encoding/json writes it: keys sorted, <>& escaped, int64 and float text. */
const WIDGET =
  '{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"annotations":{"note":"a \\u003c b \\u0026 c"},"name":"blue","namespace":"shop",' +
  '"resourceVersion":"812"},"spec":{"avogadro":6.02214076e+23,"maxInt64":9223372036854775807,"minInt64":-9223372036854775808,"ratio":1.0,"small":1.50,"uint64":18446744073709551615}}';

for (const { label, command } of pluginForms()) {
  describe(`plugin process: items come back unchanged where no rule applies, ${label}`, () => {
    let host: PluginHost;
    before(async () => {
      host = await PluginHost.start({ command, env: OFFLINE });
    });
    after(async () => {
      await host?.shutdown();
    });
    const backup = jsonBytes(fixture("velero-backup"));
    const restore = jsonBytes(fixture("velero-restore"));

    it("big integers and float text survive a backup that strips another field", async () => {
      for (const service of ["BackupItemActionV1", "BackupItemActionV2"] as const) {
        const reply = await host.call<Reply>(service, "Execute", { plugin: NAME, item: Buffer.from(WIDGET), backup });
        const text = reply.item.toString("utf8");
        assert.ok(!text.includes("resourceVersion"), "the rule ran");
        for (const kept of ['"maxInt64":9223372036854775807', '"minInt64":-9223372036854775808', '"uint64":18446744073709551615', '"ratio":1.0', '"small":1.50', '"avogadro":6.02214076e+23']) {
          assert.ok(text.includes(kept), `${kept} in ${text}`);
        }
      }
    });

    it("an item no rule changes goes back byte for byte (backup and restore)", async () => {
      const unchanged = WIDGET.replace(',\n"resourceVersion":"812"', "").replace(',"resourceVersion":"812"', "");
      const b = await host.call<Reply>("BackupItemActionV2", "Execute", { plugin: NAME, item: Buffer.from(unchanged), backup });
      assert.equal(b.item.toString("utf8"), unchanged);
      const r = await host.call<Reply>("RestoreItemActionV2", "Execute", { plugin: NAME, item: Buffer.from(unchanged), itemFromBackup: Buffer.from(unchanged), restore });
      assert.equal(r.item.toString("utf8"), unchanged);
    });

    it("an item nested 6000 deep is kept as Velero sent it, not dropped", async () => {
      let deep = '{"leaf":12345678901234567890}';
      for (let i = 0; i < 6000; i++) deep = `{"n":${deep}}`;
      const item = `{"apiVersion":"example.com/v1","kind":"Deep","metadata":{"name":"d","namespace":"shop","resourceVersion":"1"},"spec":${deep}}`;
      for (const service of ["BackupItemActionV1", "BackupItemActionV2"] as const) {
        const reply = await host.call<Reply>(service, "Execute", { plugin: NAME, item: Buffer.from(item), backup });
        const text = reply.item.toString("utf8");
        assert.ok(text.includes("12345678901234567890"), "the big number is intact");
        assert.equal(JSON.parse(text).metadata.name, "d");
      }
      const r = await host.call<Reply>("RestoreItemActionV2", "Execute", { plugin: NAME, item: Buffer.from(item), itemFromBackup: Buffer.from(item), restore });
      assert.ok(r.item.toString("utf8").includes("12345678901234567890"));
    });
  });
}
