// An action that fails keeps the item: Velero would otherwise leave it out of the backup or the restore.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import type { BackupItemAction, RestoreItemAction } from "../../src/actions/action.js";
import { keepItemOnFailure } from "../../src/actions/keep-item-on-failure.js";
import { createLogger } from "../../src/log/logger.js";
import type { KubeObject } from "../../src/manifest/object.js";

function capturingLogger() {
  const lines: { "@level": string; "@message": string }[] = [];
  const stream = new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) });
  return { log: createLogger({ level: "debug", stream }), lines };
}

const deep: KubeObject = { apiVersion: "docs.example.com/v1", kind: "Document", metadata: { name: "deep-tree", namespace: "odd" }, spec: { tree: {} } };
const backup = { apiVersion: "velero.io/v1", kind: "Backup" };

describe("an item action that fails keeps the item", () => {
  it("a failing BackupItemAction returns the item as Velero gave it and logs an error naming action, item and reason", async () => {
    const { log, lines } = capturingLogger();
    const failing: BackupItemAction = {
      family: "backup",
      name: "twinsnap.dev/strip-runtime-fields",
      appliesTo: () => ({ includedResources: ["*"] }),
      execute: async () => {
        throw new RangeError("Maximum call stack size exceeded");
      },
    };
    const out = await keepItemOnFailure(failing, log).execute({ item: deep, backup });
    assert.deepEqual(out, { item: deep });
    await new Promise((r) => setImmediate(r));
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!["@level"], "error", "error level: Velero marks the backup PartiallyFailed and shows the message");
    assert.match(lines[0]!["@message"], /^twinsnap\.dev\/strip-runtime-fields failed on docs\.example\.com\/Document odd\/deep-tree: Maximum call stack size exceeded; the item is kept/);
  });

  it("a failing RestoreItemAction restores the item unchanged rather than skipping it; other methods are untouched", async () => {
    const { log } = capturingLogger();
    const failing: RestoreItemAction = {
      family: "restore",
      name: "twinsnap.dev/restore-order",
      appliesTo: () => ({ includedNamespaces: ["odd"] }),
      execute: async () => {
        throw new Error("apiserver unreachable");
      },
      areAdditionalItemsReady: async () => true,
    };
    const wrapped = keepItemOnFailure(failing, log);
    assert.deepEqual(await wrapped.execute({ item: deep, itemFromBackup: deep, restore: {} }), { item: deep });
    assert.deepEqual(wrapped.appliesTo(), { includedNamespaces: ["odd"] });
    assert.equal(await wrapped.areAdditionalItemsReady!([], {}), true);
    assert.equal(wrapped.name, "twinsnap.dev/restore-order");
  });

  it("a succeeding action's result passes through as it is", async () => {
    const { log, lines } = capturingLogger();
    const ok: BackupItemAction = { family: "backup", name: "x.dev/ok", appliesTo: () => ({}), execute: async ({ item }) => ({ item: { ...item, kind: "Changed" }, additionalItems: [] }) };
    assert.deepEqual(await keepItemOnFailure(ok, log).execute({ item: deep, backup }), { item: { ...deep, kind: "Changed" }, additionalItems: [] });
    assert.equal(lines.length, 0);
  });
});
