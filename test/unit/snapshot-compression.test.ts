// Snapshot compression: zstd by default, gzip and none on request, and every snapshot ever written (gzip, before
// zstd existed) still reads and verifies.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { constants as zlibConstants, gzipSync, gunzipSync, zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import type { EtcdMaintenance } from "../../src/etcd/etcd-client.js";
import { compressionOfKey, parseCompression, snapshotExtension, UnknownCompressionError } from "../../src/etcd/compression.js";
import { RoundTripCheck, saveSnapshot, SnapshotIntegrityError, verifyStoredSnapshot } from "../../src/etcd/snapshot.js";
import { FilesystemStore } from "../../src/store/filesystem-store.js";
import type { ObjectStore } from "../../src/store/object-store.js";
import { REPO_ROOT } from "../support/fixtures.js";

const header = { revision: "7", cluster_id: "c1", member_id: "m1" };
function fakeEtcd(db: Buffer): EtcdMaintenance {
  const trailer = createHash("sha256").update(db).digest();
  return {
    status: async () => ({ header, version: "3.6.16", dbSize: String(db.length), leader: "m1", errors: [] }),
    snapshot: async () =>
      Readable.from(
        (async function* () {
          yield { header, remaining_bytes: String(db.length), blob: Buffer.alloc(0) };
          for (let i = 0; i < db.length; i += 64 * 1024) yield { header, remaining_bytes: String(db.length - i - 64 * 1024), blob: db.subarray(i, i + 64 * 1024) };
          yield { header, remaining_bytes: "0", blob: trailer };
        })(),
      ),
    close: () => undefined,
  };
}
// Half random, half runs: compressible like a real database, and not trivially.
const db = Buffer.concat(Array.from({ length: 64 }, (_, i) => Buffer.concat([randomBytes(8192), Buffer.alloc(8192, i)])));
const whole = (b: Buffer) => createHash("sha256").update(Buffer.concat([b, createHash("sha256").update(b).digest()])).digest("hex");
const storeDir = () => mkdtempSync(join(tmpdir(), "twinsnap-unit-zstd-"));

describe("snapshot compression", () => {
  it("is zstd by default: the record says so, and the stored file is a zstd frame of exactly what etcd sent", async () => {
    const dir = storeDir();
    const record = await saveSnapshot(fakeEtcd(db), new FilesystemStore(dir), "snapshots/a.db.zst");
    assert.equal(record.compression, "zstd");
    const stored = readFileSync(join(dir, "snapshots", "a.db.zst"));
    assert.deepEqual([...stored.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd], "zstd magic");
    const raw = zstdDecompressSync(stored);
    assert.equal(raw.length, db.length + 32);
    assert.equal(record.snapshotSha256, whole(db));
    assert.ok(record.storedBytes < record.snapshotBytes);
    await verifyStoredSnapshot(new FilesystemStore(dir), record);
  });

  it("--compression gzip and none write what they say, and both verify", async () => {
    const dir = storeDir();
    const gz = await saveSnapshot(fakeEtcd(db), new FilesystemStore(dir), "snapshots/g.db.gz", { compression: "gzip" });
    assert.equal(gz.compression, "gzip");
    assert.equal(gunzipSync(readFileSync(join(dir, "snapshots", "g.db.gz"))).length, db.length + 32);
    const none = await saveSnapshot(fakeEtcd(db), new FilesystemStore(dir), "snapshots/n.db", { compression: "none", readBack: true });
    assert.equal(none.compression, "none");
    assert.equal(none.storedBytes, none.snapshotBytes);
    assert.equal(none.storedSha256, none.snapshotSha256);
    await verifyStoredSnapshot(new FilesystemStore(dir), gz);
  });

  it("a gzip snapshot from before zstd (record without the field's new values, key .db.gz) still verifies", async () => {
    const dir = storeDir();
    mkdirSync(join(dir, "snapshots"), { recursive: true });
    const raw = Buffer.concat([db, createHash("sha256").update(db).digest()]);
    const file = gzipSync(raw);
    writeFileSync(join(dir, "snapshots", "old.db.gz"), file);
    const legacy = { key: "snapshots/old.db.gz", storedBytes: file.length, storedSha256: createHash("sha256").update(file).digest("hex"), snapshotBytes: raw.length, snapshotSha256: whole(db) };
    await verifyStoredSnapshot(new FilesystemStore(dir), legacy);
    await verifyStoredSnapshot(new FilesystemStore(dir), { ...legacy, compression: "gzip" });
  });

  it("a stored file that is not what its record says is a SnapshotIntegrityError, not a zlib error", async () => {
    const dir = storeDir();
    const store = new FilesystemStore(dir);
    const record = await saveSnapshot(fakeEtcd(db), store, "snapshots/t.db.zst");
    writeFileSync(join(dir, "snapshots", "t.db.zst"), "tampered");
    await assert.rejects(verifyStoredSnapshot(store, record), (e: unknown) => e instanceof SnapshotIntegrityError && /not zstd data/.test(e.message));
    await assert.rejects(verifyStoredSnapshot(store, { ...record, compression: "gzip" }), SnapshotIntegrityError);
  });

  it("a store that reports writing more than it kept is caught without reading the object back, and nothing stays", async () => {
    const dir = storeDir();
    const inner = new FilesystemStore(dir);
    const lying: ObjectStore = { ...inner, url: inner.url, put: async (key, body) => { const r = await inner.put(key, body); writeFileSync(join(dir, key), readFileSync(join(dir, key)).subarray(0, 100)); return r; }, get: (k) => inner.get(k), head: (k) => inner.head(k), list: (p) => inner.list(p), delete: (k) => inner.delete(k) };
    await assert.rejects(saveSnapshot(fakeEtcd(db), lying, "snapshots/short.db.zst"), SnapshotIntegrityError);
    assert.deepEqual(await inner.list("snapshots"), []);
  });

  it("leaves no timer armed once stored, even when etcd's stream never emits close (as a gRPC call's need not)", async () => {
    // In a process of its own: mocha's own timers would blur the count. A stall watchdog left armed held
    // `twinsnap etcd snapshot` for its whole 60 s after the snapshot was stored, before the process could exit.
    const script = `
      import { saveSnapshot } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, "dist/src/etcd/snapshot.js")).href)};
      import { FilesystemStore } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, "dist/src/store/filesystem-store.js")).href)};
      import { Readable } from "node:stream";
      import { createHash, randomBytes } from "node:crypto";
      const header = { cluster_id: "1", member_id: "2", revision: "3", raft_term: "1" };
      const db = randomBytes(256 * 1024);
      const trailer = createHash("sha256").update(db).digest();
      const chunks = [{ header, remaining_bytes: String(db.length), blob: Buffer.alloc(0) }];
      for (let i = 0; i < db.length; i += 65536) chunks.push({ header, remaining_bytes: String(db.length - i - 65536), blob: db.subarray(i, i + 65536) });
      chunks.push({ header, remaining_bytes: "0", blob: trailer });
      const etcd = { status: async () => ({ header, version: "3.6.16", dbSize: String(db.length), leader: "m1", errors: [] }), snapshot: async () => Readable.from(chunks, { emitClose: false }), close() {} };
      await saveSnapshot(etcd, new FilesystemStore(${JSON.stringify(storeDir())}), "snapshots/quiet.db.zst");
      console.log(JSON.stringify(process.getActiveResourcesInfo()));
      process.exit(0);`;
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script]);
    assert.deepEqual((JSON.parse(stdout) as string[]).filter((r) => r === "Timeout"), []);
  });

  it("the in-pass check of a zstd snapshot hashes nothing twice, and still catches a frame damaged on its way to the store", async () => {
    // Without a second sha256 of the decompressed bytes, the frame's own checksum (of what the compressor was
    // given: the bytes already hashed as etcd's) is what must catch damage between compressor and store.
    const frame = zstdCompressSync(db, { params: { [zlibConstants.ZSTD_c_compressionLevel]: 1, [zlibConstants.ZSTD_c_checksumFlag]: 1 } });
    const check = async (bytes: Buffer) => {
      const roundTrip = new RoundTripCheck("zstd", "snapshots/x.db.zst", false);
      await pipeline(Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), roundTrip, new Writable({ write: (_c, _e, done) => done() }));
      return roundTrip.result();
    };
    assert.deepEqual(await check(frame), { bytes: db.length, sha256: undefined, storedAsIs: false });
    // One bit flipped where the frame holds random (incompressible) bytes as they are: it still decompresses,
    // to other bytes, and only the checksum can tell.
    const at = frame.indexOf(db.subarray(20 * 16384, 20 * 16384 + 64));
    assert.ok(at > 0, "the random bytes are stored verbatim in the frame");
    const damaged = Buffer.from(frame);
    damaged[at + 10]! ^= 0x10;
    await assert.rejects(check(damaged), SnapshotIntegrityError);
  });

  it("names: flags, key endings", () => {
    assert.equal(parseCompression("zstd"), "zstd");
    assert.throws(() => parseCompression("zip"), (e: unknown) => e instanceof UnknownCompressionError && /use one of zstd, gzip, none/.test(e.message));
    assert.deepEqual(["zstd", "gzip", "none"].map((c) => snapshotExtension(parseCompression(c))), [".db.zst", ".db.gz", ".db"]);
    assert.deepEqual(["snapshots/a.db.zst", "snapshots/b.db.gz", "snapshots/c.db"].map(compressionOfKey), ["zstd", "gzip", "none"]);
  });
});
