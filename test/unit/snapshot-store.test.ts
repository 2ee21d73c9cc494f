// Snapshot writes are atomic: a broken stream (etcd dies, the store fails mid-way) publishes nothing.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { EtcdMaintenance } from "../../src/etcd/etcd-client.js";
import { saveSnapshot, SnapshotIntegrityError, SnapshotStreamError, verifyStoredSnapshot } from "../../src/etcd/snapshot.js";
import { FilesystemStore } from "../../src/store/filesystem-store.js";
import { StoreWriteError, type ObjectStore } from "../../src/store/object-store.js";

const header = { revision: "42", cluster_id: "c1", member_id: "m1" };

/** An etcd client whose snapshot stream sends `chunks` and then, if asked, fails. */
function fakeEtcd(chunks: Buffer[], failAfter?: number): EtcdMaintenance {
  return {
    status: async () => ({ header, version: "3.6.16", dbSize: "4096", leader: "m1", errors: [] }),
    snapshot: async () =>
      Readable.from(
        (async function* () {
          for (const [i, blob] of chunks.entries()) {
            if (failAfter !== undefined && i === failAfter) throw new Error("14 UNAVAILABLE: connection reset");
            yield { header, remaining_bytes: "0", blob };
          }
        })(),
      ),
    close: () => undefined,
  };
}

describe("snapshot store writes", () => {
  it("stores, hashes and verifies a streamed snapshot in constant-size chunks", async () => {
    const dir = mkdtempSync(join(tmpdir(), "twinsnap-unit-store-"));
    const store = new FilesystemStore(dir);
    const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(64 * 1024, i));
    const record = await saveSnapshot(fakeEtcd(chunks), store, "snapshots/a.db.gz");
    assert.equal(record.revision, "42");
    assert.equal(record.snapshotBytes, 64 * 64 * 1024);
    assert.deepEqual(await store.list("snapshots"), ["snapshots/a.db.gz"]);
  });

  it("a stream that breaks half-way leaves no snapshot and no partial file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "twinsnap-unit-store-"));
    const store = new FilesystemStore(dir);
    const chunks = Array.from({ length: 16 }, () => Buffer.alloc(64 * 1024, 7));
    await assert.rejects(saveSnapshot(fakeEtcd(chunks, 8), store, "snapshots/b.db.gz"), (e: unknown) => e instanceof SnapshotStreamError && /connection reset/.test(e.message));
    assert.deepEqual(readdirSync(join(dir, "snapshots")), []);
  });

  it("a store that fails (denied, unreachable) is reported as the store's failure, with its recoverable marker", async () => {
    // As the S3 store does: it stops reading its input, closes it, and rejects.
    const denied: ObjectStore = {
      url: "s3://bucket/p",
      put: async (key, body) => {
        for await (const _ of body) break;
        body.destroy();
        throw new StoreWriteError("s3://bucket/p", key, { cause: Object.assign(new Error("Access Denied"), { name: "AccessDenied" }), recoverable: false });
      },
      get: async () => assert.fail("not read"),
      head: async () => undefined,
      list: async () => [],
      delete: async () => undefined,
    };
    const chunks = Array.from({ length: 64 }, () => Buffer.alloc(64 * 1024, 1));
    await assert.rejects(saveSnapshot(fakeEtcd(chunks), denied, "snapshots/d.db.gz"), (e: unknown) => {
      assert.ok(e instanceof SnapshotStreamError);
      assert.match(e.message, /^storing the snapshot failed: writing snapshots\/d.db.gz to s3:\/\/bucket\/p failed: Access Denied/);
      assert.equal(e.recoverable, false, "no retry for a denied write");
      return true;
    });
  });

  it("verification catches a stored object that was changed after it was written", async () => {
    const dir = mkdtempSync(join(tmpdir(), "twinsnap-unit-store-"));
    const store = new FilesystemStore(dir);
    const record = await saveSnapshot(fakeEtcd([Buffer.from("etcd database bytes")]), store, "snapshots/c.db.gz");
    writeFileSync(join(dir, "snapshots", "c.db.gz"), "tampered");
    await assert.rejects(verifyStoredSnapshot(store, record), (e: unknown) => e instanceof SnapshotIntegrityError || /incorrect header|unexpected end/.test(String(e)));
  });
});

describe("filesystem store permissions", () => {
  it("keeps snapshots readable by the coordinator's user only (they hold every Secret)", async () => {
    const { statSync } = await import("node:fs");
    const dir = mkdtempSync(join(tmpdir(), "twinsnap-unit-store-"));
    const store = new FilesystemStore(join(dir, "root"));
    await store.put("snapshots/x.db.gz", Readable.from([Buffer.from("data")]));
    assert.equal(statSync(join(dir, "root", "snapshots", "x.db.gz")).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, "root", "snapshots")).mode & 0o777, 0o700);
  });
});
