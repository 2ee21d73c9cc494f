import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { cachedRules, type PluginConfigDocument } from "../../src/actions/rules-source.js";
import { createLogger } from "../../src/log/logger.js";
import { DEFAULT_RULES } from "../../src/manifest/rules-config.js";

function capture() {
  const lines: Record<string, string>[] = [];
  const stream = new Writable({ write: (c, _e, done) => (lines.push(JSON.parse(String(c))), done()) });
  return { lines, log: createLogger({ level: "debug", stream }) };
}

describe("plugin configuration cache", () => {
  let clock = 0;
  const now = () => clock;

  it("reads the configuration at most once per TTL and follows its changes", async () => {
    let reads = 0;
    let doc: PluginConfigDocument = { text: "disableRules: [status]", origin: "cm", version: "1" };
    const { log } = capture();
    const policy = cachedRules({ reader: { read: async () => (reads++, doc) }, log, ttlMs: 1000, now });
    const first = (await policy()).strip;
    assert.ok(!first.rules.some((r) => r.name === "status"));
    await policy();
    assert.equal(reads, 1);
    clock += 1001;
    doc = { text: "disableRules: [pod-priority]\ndisableDependencyRules: [autoscaler-needs-target]", origin: "cm", version: "2" };
    const second = (await policy()).strip;
    assert.equal(reads, 2);
    assert.ok(second.rules.some((r) => r.name === "status"));
    assert.ok(!second.rules.some((r) => r.name === "pod-priority"));
    assert.ok(!(await policy()).dependencies.some((r) => r.name === "autoscaler-needs-target"));
  });

  it("falls back to the built-in rules on a broken configuration and reports it once per version", async () => {
    const { lines, log } = capture();
    const policy = cachedRules({ reader: { read: async () => ({ text: "disableRules: [nope]", origin: "cm x", version: "7" }) }, log, ttlMs: 0, now });
    assert.equal(await policy(), DEFAULT_RULES);
    assert.equal(await policy(), DEFAULT_RULES);
    const errors = lines.filter((l) => l["@level"] === "error");
    assert.equal(errors.length, 1);
    assert.match(errors[0]!["@message"]!, /cm x[\s\S]*nope/);
  });

  it("keeps the last good rules when the configuration cannot be read, with a warning", async () => {
    const { lines, log } = capture();
    let fail = false;
    const policy = cachedRules({
      reader: { read: async () => { if (fail) throw new Error("connection refused"); return { text: "disableRules: [status]", origin: "cm", version: "1" }; } },
      log,
      ttlMs: 0,
      now,
    });
    const good = await policy();
    fail = true;
    assert.equal(await policy(), good);
    assert.equal(lines.filter((l) => l["@level"] === "warn").length, 1);
    assert.equal(lines.filter((l) => l["@level"] === "error").length, 0);
  });

  it("without a configuration source, the built-in rules apply", async () => {
    assert.equal(await cachedRules({ reader: undefined, log: capture().log })(), DEFAULT_RULES);
  });
});
