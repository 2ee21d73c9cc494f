// `twinsnap etcd snapshot` against a real etcd 3.6: the stored snapshot verifies, etcd's own tool accepts it,
// and it restores into a new member that holds the same keys at the recorded revision.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createGunzip } from "node:zlib";
import { Etcd3 } from "etcd3";
import { REPO_ROOT } from "../support/fixtures.js";
import { startEtcdOn, startStandaloneEtcd } from "../support/control-plane.js";
import { peer } from "../support/peers.js";

const run = promisify(execFile);
const TWINSNAP = join(REPO_ROOT, "bin", "twinsnap.js");

describe("etcd snapshots on a real etcd", function () {
  this.timeout(120_000);
  let etcd: Awaited<ReturnType<typeof startStandaloneEtcd>>;
  const storeDir = mkdtempSync(join(tmpdir(), "twinsnap-store-"));

  before(async () => {
    etcd = await startStandaloneEtcd("snapshot");
    const client = new Etcd3({ hosts: etcd.endpoint });
    for (let i = 0; i < 300; i++) await client.put(`/registry/configmaps/shop/cm-${i}`).value(`value-${i}-${"x".repeat(200)}`);
    client.close();
  });
  after(async () => etcd?.stop());

  it("streams a snapshot into the file store, verifies it, and etcdutl agrees on the revision", async () => {
    const { stdout } = await run(TWINSNAP, ["etcd", "snapshot", "--endpoints", etcd.endpoint, "--store", `file://${storeDir}`, "--name", "first", "--etcdutl", peer("ETCDUTL_BIN")]);
    const record = JSON.parse(stdout);
    const client = new Etcd3({ hosts: etcd.endpoint });
    const status = await client.maintenance.status();
    client.close();
    assert.equal(record.revision, status.header.revision, "the snapshot holds the revision etcd is at");
    assert.equal(record.etcdutl.revision, Number(record.revision));
    assert.ok(record.etcdutl.totalKey >= 300);
    assert.match(record.snapshotSha256, /^[0-9a-f]{64}$/);
    assert.ok(record.storedBytes < record.snapshotBytes, "gzip-compressed");
    assert.deepEqual(readdirSync(join(storeDir, "snapshots")).sort(), ["first.db.gz", "first.json"]);
  });

  it("restores into a new member that holds the same keys at the recorded revision", async () => {
    const work = mkdtempSync(join(tmpdir(), "twinsnap-restore-"));
    const db = join(work, "snapshot.db");
    await pipeline(createReadStream(join(storeDir, "snapshots", "first.db.gz")), createGunzip(), createWriteStream(db));
    const dataDir = join(work, "restored");
    await run(peer("ETCDUTL_BIN"), ["snapshot", "restore", db, "--data-dir", dataDir, "--name", "test", "--initial-cluster", "test=http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380", "--bump-revision", "1000000000", "--mark-compacted"]);
    const restored = await startEtcdOn(work, dataDir);
    try {
      const client = new Etcd3({ hosts: restored.endpoint });
      const keys = await client.getAll().prefix("/registry/configmaps/shop/").keys();
      assert.equal(keys.length, 300);
      assert.equal(await client.get("/registry/configmaps/shop/cm-7").string(), `value-7-${"x".repeat(200)}`);
      client.close();
    } finally {
      await restored.stop();
    }
  });

  it("an unreachable etcd is a clear error and leaves nothing in the store", async () => {
    const result = await run(TWINSNAP, ["etcd", "snapshot", "--endpoints", "http://127.0.0.1:1", "--store", `file://${storeDir}`, "--name", "never"]).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /etcd is not reachable/);
    assert.ok(!existsSync(join(storeDir, "snapshots", "never.db.gz")));
    assert.ok(!readdirSync(join(storeDir, "snapshots")).some((f) => f.includes("partial")));
  });
});
