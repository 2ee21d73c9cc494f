// The plugin's logger: hclog JSON lines on stderr, and lines below the level cost nothing.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { createLogger } from "../../src/log/logger.js";

function capture(level: "info" | "debug") {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write: (c, _e, done) => (lines.push(JSON.parse(String(c))), done()) });
  return { log: createLogger({ level, stream }), lines };
}
const flush = () => new Promise((r) => setImmediate(r));

describe("logger", () => {
  it("drops lines below its level before formatting them (a field that cannot be formatted is never touched)", async () => {
    const { log, lines } = capture("info");
    const poisoned = { get item(): string { throw new Error("formatted a dropped line"); } };
    log.debug("stripped runtime fields", poisoned);
    log.info("kept", { item: "apps/Deployment shop/web" });
    await flush();
    assert.deepEqual(lines, [{ "@level": "info", "@message": "kept", item: "apps/Deployment shop/web" }]);
  });

  it("child loggers keep their fields and the same level gate", async () => {
    const { log, lines } = capture("debug");
    const child = log.child({ backup: "nightly" });
    child.debug("one", { n: 1 });
    log.debug("two");
    await flush();
    assert.deepEqual(lines, [
      { "@level": "debug", "@message": "one", backup: "nightly", n: 1 },
      { "@level": "debug", "@message": "two" },
    ]);
    const quiet = capture("info");
    quiet.log.child({ backup: "nightly" }).debug("dropped");
    quiet.log.child({ backup: "nightly" }).warn("shown");
    await flush();
    assert.deepEqual(quiet.lines, [{ "@level": "warn", "@message": "shown", backup: "nightly" }]);
  });
});
