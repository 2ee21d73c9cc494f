// What a killed writer leaves in the file store: partial files of any key, removed once they are older than a
// live write could leave them (the coordinator calls this at start and on each retention pass).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ABANDONED_PARTIAL_MS, FilesystemStore } from "../../src/store/filesystem-store.js";

describe("file store leftovers", () => {
  it("removes abandoned partial files of every key, keeps fresh ones and every object", async () => {
    const root = mkdtempSync(join(tmpdir(), "twinsnap-leftovers-"));
    mkdirSync(join(root, "snapshots"), { recursive: true });
    mkdirSync(join(root, "pairs"), { recursive: true });
    const old = (Date.now() - ABANDONED_PARTIAL_MS - 60_000) / 1000;
    const files = {
      abandoned: join(root, "snapshots", "uid-1.db.gz.partial-deadbeef"),
      abandonedRecord: join(root, "pairs", "uid-2.json.partial-0badf00d"),
      fresh: join(root, "snapshots", "uid-3.db.gz.partial-12345678"),
      object: join(root, "snapshots", "uid-1.db.gz"),
      oldObject: join(root, "pairs", "uid-1.json"),
    };
    for (const f of Object.values(files)) writeFileSync(f, "x");
    for (const f of [files.abandoned, files.abandonedRecord, files.oldObject]) utimesSync(f, old, old);
    const store = new FilesystemStore(root);
    assert.deepEqual((await store.removeAbandonedPartials()).sort(), ["pairs/uid-2.json.partial-0badf00d", "snapshots/uid-1.db.gz.partial-deadbeef"]);
    assert.ok(!existsSync(files.abandoned) && !existsSync(files.abandonedRecord));
    assert.ok(existsSync(files.fresh), "a write in progress is left alone");
    assert.ok(existsSync(files.object) && existsSync(files.oldObject), "objects are never touched, however old");
  });

  it("tells the free space of its filesystem", async () => {
    const store = new FilesystemStore(mkdtempSync(join(tmpdir(), "twinsnap-free-")));
    const free = await store.freeBytes();
    assert.ok(typeof free === "number" && free > 0);
  });
});
