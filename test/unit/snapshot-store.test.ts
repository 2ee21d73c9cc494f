// Snapshot writes are atomic: a broken stream (etcd dies, the store fails mid-way) publishes nothing.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { Readable, Transform } from "node:stream";
import type { EtcdMaintenance } from "../../src/etcd/etcd-client.js";
import { saveSnapshot, SnapshotAbortedError, SnapshotIntegrityError, SnapshotStreamError, SnapshotUploadError, verifyStoredSnapshot } from "../../src/etcd/snapshot.js";
import { FilesystemStore } from "../../src/store/filesystem-store.js";
import { StoreWriteError, type ObjectStore } from "../../src/store/object-store.js";

const header = { revision: "42", cluster_id: "c1", member_id: "m1" };

/**
 * An etcd client whose snapshot stream is framed as etcd frames it (server/etcdserver/api/v3rpc/maintenance.go): a
 * first message announcing the size, the database in chunks, then its sha256 as the last blob. `failAfter` breaks
 * the stream with an error before that chunk; `endAfter` ends it cleanly there (a stream cut short); `damage`
 * flips a byte of the database on the way.
 */
function fakeEtcd(chunks: Buffer[], opts: { failAfter?: number; endAfter?: number; damage?: boolean } = {}): EtcdMaintenance {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const trailer = createHash("sha256").update(Buffer.concat(chunks)).digest();
  return {
    status: async () => ({ header, version: "3.6.16", dbSize: String(total), leader: "m1", errors: [] }),
    snapshot: async () =>
      Readable.from(
        (async function* () {
          yield { header, remaining_bytes: String(total), blob: Buffer.alloc(0) };
          let sent = 0;
          for (const [i, chunk] of chunks.entries()) {
            if (opts.failAfter === i) throw new Error("14 UNAVAILABLE: connection reset");
            if (opts.endAfter === i) return;
            sent += chunk.length;
            const blob = opts.damage && i === 0 ? Buffer.concat([Buffer.from([chunk[0]! ^ 1]), chunk.subarray(1)]) : chunk;
            yield { header, remaining_bytes: String(total - sent), blob };
          }
          yield { header, remaining_bytes: "0", blob: trailer };
        })(),
      ),
    close: () => undefined,
  };
}

/** A store whose snapshot writes fail after `limit` bytes, as a full disk does. */
function storeFailingAfter(inner: FilesystemStore, limit: number): ObjectStore {
  return {
    url: inner.url,
    put: (key, body) => {
      let n = 0;
      const cut = new Transform({
        transform(chunk: Buffer, _e, done) {
          n += chunk.length;
          done(n > limit ? new Error("ENOSPC: no space left on device") : null, chunk);
        },
      });
      return inner.put(key, body.pipe(cut));
    },
    get: (key) => inner.get(key),
    head: (key) => inner.head(key),
    list: (prefix) => inner.list(prefix),
    delete: (key) => inner.delete(key),
  };
}

describe("snapshot store writes", () => {
  it("stores, hashes and verifies a streamed snapshot in constant-size chunks", async () => {
    const dir = mkdtempSync(join(tmpdir(), "twinsnap-unit-store-"));
    const store = new FilesystemStore(dir);
    const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(64 * 1024, i));
    const record = await saveSnapshot(fakeEtcd(chunks), store, "snapshots/a.db.gz");
    assert.equal(record.revision, "42");
    assert.equal(record.snapshotBytes, 64 * 64 * 1024 + 32, "the database and etcd's sha256 trailer");
    assert.deepEqual(await store.list("snapshots"), ["snapshots/a.db.gz"]);
  });

  it("a stream that breaks half-way leaves no snapshot and no partial file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "twinsnap-unit-store-"));
    const store = new FilesystemStore(dir);
    const chunks = Array.from({ length: 16 }, () => Buffer.alloc(64 * 1024, 7));
    await assert.rejects(saveSnapshot(fakeEtcd(chunks, { failAfter: 8 }), store, "snapshots/b.db.gz"), (e: unknown) => e instanceof SnapshotStreamError && /connection reset/.test(e.message));
    assert.deepEqual(readdirSync(join(dir, "snapshots")), []);
  });

  it("a stream that etcd ends early without an error is not a snapshot: nothing is stored", async () => {
    const dir = mkdtempSync(join(tmpdir(), "twinsnap-unit-store-"));
    const store = new FilesystemStore(dir);
    const chunks = Array.from({ length: 16 }, (_, i) => Buffer.alloc(32 * 1024, i));
    await assert.rejects(saveSnapshot(fakeEtcd(chunks, { endAfter: 9 }), store, "snapshots/short.db.gz"), (e: unknown) => e instanceof SnapshotStreamError && e.recoverable && /ended early: 294912 of 524320 bytes/.test(e.message));
    assert.deepEqual(readdirSync(join(dir, "snapshots")), []);
  });

  it("a stream whose bytes do not match etcd's sha256 trailer is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "twinsnap-unit-store-"));
    const store = new FilesystemStore(dir);
    const chunks = Array.from({ length: 4 }, (_, i) => Buffer.alloc(32 * 1024, i));
    await assert.rejects(saveSnapshot(fakeEtcd(chunks, { damage: true }), store, "snapshots/damaged.db.gz"), /does not match its own sha256 trailer/);
    assert.deepEqual(readdirSync(join(dir, "snapshots")), []);
  });

  it("a store that fails mid-upload is named as the cause, and leaves no partial object", async () => {
    const dir = mkdtempSync(join(tmpdir(), "twinsnap-unit-store-"));
    const chunks = Array.from({ length: 32 }, () => randomBytes(32 * 1024));
    await assert.rejects(saveSnapshot(fakeEtcd(chunks), storeFailingAfter(new FilesystemStore(dir), 100_000), "snapshots/full.db.gz"), (e: unknown) => e instanceof SnapshotUploadError && e.recoverable && /storing the snapshot failed: writing snapshots\/full.db.gz .*ENOSPC/.test(e.message));
    assert.deepEqual(readdirSync(join(dir, "snapshots")), []);
  });

  it("a stream that stalls half-way (a half-open connection) fails, recoverable, within its idle bound and stores nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "twinsnap-unit-store-"));
    const chunks = Array.from({ length: 8 }, () => randomBytes(32 * 1024));
    const stalling: EtcdMaintenance = {
      ...fakeEtcd(chunks),
      snapshot: async () => {
        // Two messages, then nothing more and no error: the peer vanished (a gRPC stream destroys cleanly, as this one).
        const stream = new Readable({ objectMode: true, read: () => undefined });
        stream.push({ header, remaining_bytes: String(8 * 32 * 1024), blob: Buffer.alloc(0) });
        stream.push({ header, remaining_bytes: String(7 * 32 * 1024), blob: chunks[0]! });
        return stream;
      },
    };
    const started = Date.now();
    await assert.rejects(saveSnapshot(stalling, new FilesystemStore(dir), "snapshots/stalled.db.gz", { idleMs: 300 }), (e: unknown) => e instanceof SnapshotStreamError && e.recoverable && /nothing moved for 0.3 s/.test(e.message));
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(readdirSync(join(dir, "snapshots")), []);
  });

  it("an aborted snapshot stops the stream and stores nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "twinsnap-unit-store-"));
    const abort = new AbortController();
    const chunks = Array.from({ length: 64 }, () => randomBytes(32 * 1024));
    const inner = new FilesystemStore(dir);
    const store: ObjectStore = { ...storeFailingAfter(inner, Infinity), put: (key, body) => (body.once("data", () => abort.abort()), inner.put(key, body)) };
    await assert.rejects(saveSnapshot(fakeEtcd(chunks), store, "snapshots/stopped.db.gz", { signal: abort.signal }), (e: unknown) => e instanceof SnapshotAbortedError && !e.recoverable);
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
      assert.ok(e instanceof SnapshotUploadError);
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

describe("filesystem store after a writer was killed", () => {
  it("the next put of the key removes the partial file a dead writer left, and keeps one still being written", async () => {
    const { mkdirSync, utimesSync } = await import("node:fs");
    const dir = mkdtempSync(join(tmpdir(), "twinsnap-unit-store-"));
    mkdirSync(join(dir, "snapshots"));
    const abandoned = join(dir, "snapshots", "u1.db.gz.partial-dead0001");
    writeFileSync(abandoned, "half a snapshot");
    const anHourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(abandoned, anHourAgo, anHourAgo);
    writeFileSync(join(dir, "snapshots", "u1.db.gz.partial-live0002"), "being written right now");
    writeFileSync(join(dir, "snapshots", "u2.db.gz.partial-dead0003"), "another key's");
    utimesSync(join(dir, "snapshots", "u2.db.gz.partial-dead0003"), anHourAgo, anHourAgo);

    await new FilesystemStore(dir).put("snapshots/u1.db.gz", Readable.from([Buffer.from("whole snapshot")]));

    assert.deepEqual(readdirSync(join(dir, "snapshots")).sort(), ["u1.db.gz", "u1.db.gz.partial-live0002", "u2.db.gz.partial-dead0003"]);
  });
});
