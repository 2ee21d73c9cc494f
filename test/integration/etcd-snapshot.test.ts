// `twinsnap etcd snapshot` against a real etcd 3.6: the stored snapshot verifies, etcd's own tool accepts it,
// and it restores into a new member that holds the same keys at the recorded revision.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Etcd3 } from "etcd3";
import { REPO_ROOT } from "../support/fixtures.js";
import { zstdDecompressSync } from "node:zlib";
import { BoltRevisionReader } from "../../src/etcd/bolt-revision.js";
import { connectEtcd } from "../../src/etcd/etcd-client.js";
import { saveSnapshot, SnapshotStreamError } from "../../src/etcd/snapshot.js";
import { FilesystemStore } from "../../src/store/filesystem-store.js";
import { startEtcdOn, startStandaloneEtcd, startTlsEtcd, type TlsEtcd } from "../support/control-plane.js";
import { stallingProxy } from "../support/tcp-proxies.js";
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
    assert.equal(record.compression, "zstd", "the default");
    assert.ok(record.storedBytes < record.snapshotBytes, "compressed");
    assert.deepEqual(readdirSync(join(storeDir, "snapshots")).sort(), ["first.db.zst", "first.json"]);
  });

  it("records the revision the snapshot holds even while etcd is written to during the stream (as etcdutl reads it)", async () => {
    const client = new Etcd3({ hosts: etcd.endpoint });
    // Enough data that the stream takes a while, big values on overflow pages, then writes all along the stream.
    for (let i = 0; i < 40; i++) await client.put(`/registry/secrets/shop/big-${i}`).value(randomBytes(400 * 1024));
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      while (writing) await client.put(`/registry/leases/kube-node-lease/node-${writes++ % 20}`).value(randomBytes(300));
    })();
    try {
      const { stdout } = await run(TWINSNAP, ["etcd", "snapshot", "--endpoints", etcd.endpoint, "--store", `file://${storeDir}`, "--name", "busy", "--etcdutl", peer("ETCDUTL_BIN")]);
      const record = JSON.parse(stdout);
      assert.equal(record.revisionFrom, "snapshot");
      assert.equal(record.etcdutl.revision, Number(record.revision), "etcdutl reads the recorded revision");
    } finally {
      writing = false;
      await writer;
      client.close();
    }
    assert.ok(writes > 0);
  });

  it("the revision reads the same however the snapshot's bytes are cut (pages and overflow runs split across chunks)", () => {
    // The "busy" snapshot above: 400 KiB values on overflow runs, written to during the stream; etcdutl's revision
    // is in its record.
    const record = JSON.parse(readFileSync(join(storeDir, "snapshots", "busy.json"), "utf8"));
    const file = zstdDecompressSync(readFileSync(join(storeDir, "snapshots", "busy.db.zst")));
    const database = file.subarray(0, file.length - 32);
    for (const size of [1024 * 1024, 4096, 4095, 4097, 32 * 1024 + 5, 1000, 17]) {
      const reader = new BoltRevisionReader(database.length);
      for (let at = 0; at < file.length; at += size) {
        // A buffer the caller then overwrites, as the chunk pool does: the reader must not keep it.
        const chunk = Buffer.from(file.subarray(at, at + size));
        reader.update(chunk);
        chunk.fill(0xee);
      }
      assert.equal(reader.revision(), record.etcdutl.revision, `cut every ${size} bytes`);
    }
  });

  it("twinsnap etcd restore: a new member holds the same keys, with the revision bumped and compacted", async () => {
    const work = mkdtempSync(join(tmpdir(), "twinsnap-restore-"));
    const dataDir = join(work, "restored");
    const record = JSON.parse(readFileSync(join(storeDir, "snapshots", "first.json"), "utf8"));
    // What a restore killed half-way leaves: its scratch directory, never a data directory.
    mkdirSync(join(`${dataDir}.twinsnap-partial`, "member", "snap"), { recursive: true });
    writeFileSync(join(`${dataDir}.twinsnap-partial`, "member", "snap", "db"), "half a database");
    // ...and one named after its run, by a process that is gone (pid 4194303 is above this machine's pid range).
    const deadRun = `${dataDir}.twinsnap-partial-4194303-deadbeef`;
    mkdirSync(join(deadRun, "member"), { recursive: true });
    const { stdout } = await run(TWINSNAP, ["etcd", "restore", "--snapshot", "first", "--store", `file://${storeDir}`, "--name", "test", "--initial-advertise-peer-urls", "http://127.0.0.1:2380", "--data-dir", dataDir, "--etcdutl", peer("ETCDUTL_BIN")]);
    assert.match(stdout, /restored test into/);
    assert.ok(!existsSync(`${dataDir}.twinsnap-partial`), "the scratch directory is gone once the data directory is complete");
    assert.ok(!existsSync(deadRun), "a dead run's scratch directory is gone too");
    const restored = await startEtcdOn(work, dataDir);
    try {
      const client = new Etcd3({ hosts: restored.endpoint });
      const keys = await client.getAll().prefix("/registry/configmaps/shop/").keys();
      assert.equal(keys.length, 300);
      assert.equal(await client.get("/registry/configmaps/shop/cm-7").string(), `value-7-${"x".repeat(200)}`);
      const status = await client.maintenance.status();
      assert.ok(Number(status.header.revision) >= Number(record.revision) + 1_000_000_000, "revision bumped so watchers re-list");
      // Reading at a revision from before the restore is refused as compacted.
      await assert.rejects(client.get("/registry/configmaps/shop/cm-7").revision(Number(record.revision)).string(), /compacted/);
      client.close();
    } finally {
      await restored.stop();
    }
    await assert.rejects(
      run(TWINSNAP, ["etcd", "restore", "--snapshot", "first", "--store", `file://${storeDir}`, "--name", "test", "--data-dir", dataDir, "--etcdutl", peer("ETCDUTL_BIN")]),
      (e: { stderr: string }) => /never overwrites a data directory/.test(e.stderr),
    );
    const forced = await run(TWINSNAP, ["etcd", "restore", "--snapshot", "first", "--store", `file://${storeDir}`, "--name", "test", "--data-dir", dataDir, "--etcdutl", peer("ETCDUTL_BIN"), "--force"]);
    assert.match(forced.stderr, /previous data directory was moved to .*before-twinsnap/);
  });

  it("--compression gzip (what every snapshot before zstd is) and none: etcdutl reads both, and a gzip one restores", async () => {
    const gz = JSON.parse((await run(TWINSNAP, ["etcd", "snapshot", "--endpoints", etcd.endpoint, "--store", `file://${storeDir}`, "--name", "old", "--compression", "gzip", "--etcdutl", peer("ETCDUTL_BIN")])).stdout);
    assert.equal(gz.compression, "gzip");
    assert.equal(gz.key, "snapshots/old.db.gz");
    assert.deepEqual([...readFileSync(join(storeDir, "snapshots", "old.db.gz")).subarray(0, 2)], [0x1f, 0x8b]);
    const raw = JSON.parse((await run(TWINSNAP, ["etcd", "snapshot", "--endpoints", etcd.endpoint, "--store", `file://${storeDir}`, "--name", "raw", "--compression", "none", "--read-back", "--etcdutl", peer("ETCDUTL_BIN")])).stdout);
    assert.equal(raw.storedBytes, raw.snapshotBytes);
    assert.equal(raw.etcdutl.revision, Number(raw.revision));
    const work = mkdtempSync(join(tmpdir(), "twinsnap-restore-"));
    const { stdout } = await run(TWINSNAP, ["etcd", "restore", "--snapshot", "old", "--store", `file://${storeDir}`, "--name", "old", "--data-dir", join(work, "m"), "--etcdutl", peer("ETCDUTL_BIN")]);
    assert.match(stdout, /restored old into/);
    await assert.rejects(run(TWINSNAP, ["etcd", "snapshot", "--endpoints", etcd.endpoint, "--store", `file://${storeDir}`, "--name", "typo", "--compression", "zip"]), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 2);
      assert.match(e.stderr, /--compression must be one of zstd, gzip, none \(got "zip"\)/);
      return true;
    });
    assert.ok(!existsSync(join(storeDir, "snapshots", "typo.db.zst")));
  });

  it("prints the commands for the other members of a multi-member control plane", async () => {
    const work = mkdtempSync(join(tmpdir(), "twinsnap-restore-"));
    const { stdout } = await run(TWINSNAP, [
      "etcd", "restore", "--snapshot", "first", "--store", `file://${storeDir}`, "--name", "cp-1",
      "--initial-cluster", "cp-1=http://127.0.0.1:2380,cp-2=http://127.0.0.2:2380,cp-3=http://127.0.0.3:2380",
      "--data-dir", join(work, "member"), "--etcdutl", peer("ETCDUTL_BIN"),
    ]);
    assert.match(stdout, /restored cp-1/);
    assert.match(stdout, /--name cp-2 --initial-cluster cp-1=http:\/\/127\.0\.0\.1:2380,cp-2=.* --initial-advertise-peer-urls http:\/\/127\.0\.0\.2:2380 .*--bump-revision 1000000000 --mark-compacted/);
    assert.match(stdout, /--name cp-3 /);
  });

  it("an unreachable etcd is a clear error and leaves nothing in the store", async () => {
    const result = await run(TWINSNAP, ["etcd", "snapshot", "--endpoints", "http://127.0.0.1:1", "--store", `file://${storeDir}`, "--name", "never"]).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /etcd is not reachable/);
    assert.ok(!existsSync(join(storeDir, "snapshots", "never.db.zst")));
    assert.ok(!readdirSync(join(storeDir, "snapshots")).some((f) => f.includes("partial")));
  });
});

describe("etcd snapshots from a member that serves TLS and asks for a client certificate (kubeadm's)", function () {
  this.timeout(120_000);
  let etcd: TlsEtcd;
  const storeDir = mkdtempSync(join(tmpdir(), "twinsnap-store-tls-"));
  const snapshot = (name: string, tls: string[]) =>
    run(TWINSNAP, ["etcd", "snapshot", "--endpoints", etcd.endpoint, "--store", `file://${storeDir}`, "--name", name, ...tls]).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  before(async () => {
    etcd = await startTlsEtcd("snapshot-tls");
    const client = new Etcd3({ hosts: etcd.endpoint, credentials: { rootCertificate: readFileSync(etcd.pki.etcd.ca), certChain: readFileSync(etcd.pki.etcd.healthcheckCert), privateKey: readFileSync(etcd.pki.etcd.healthcheckKey) } });
    for (let i = 0; i < 100; i++) await client.put(`/registry/secrets/shop/s-${i}`).value(randomBytes(2000).toString("base64"));
    client.close();
  });
  after(async () => etcd?.stop());

  it("with etcd's CA and a client certificate it signed: stored, and etcdutl reads it", async () => {
    const result = await snapshot("tls", ["--cacert", etcd.pki.etcd.ca, "--cert", etcd.pki.etcd.healthcheckCert, "--key", etcd.pki.etcd.healthcheckKey, "--etcdutl", peer("ETCDUTL_BIN")]);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /Warning/, `nothing on stderr an operator would have to wonder about:\n${result.stderr}`);
    const record = JSON.parse(result.stdout);
    assert.ok(record.etcdutl.totalKey >= 100);
    assert.equal(record.etcdutl.revision, Number(record.revision));
  });

  it("the wrong CA (the cluster's, not etcd's) is refused with the reason, and nothing is stored", async () => {
    const result = await snapshot("wrong-ca", ["--cacert", etcd.pki.ca, "--cert", etcd.pki.etcd.healthcheckCert, "--key", etcd.pki.etcd.healthcheckKey]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /etcd is not reachable: .*certificate/i);
    assert.ok(!existsSync(join(storeDir, "snapshots", "wrong-ca.db.zst")));
  });

  it("no client certificate: etcd refuses the connection, and the error says so", async () => {
    const result = await snapshot("no-cert", ["--cacert", etcd.pki.etcd.ca]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /etcd is not reachable/);
    assert.ok(!existsSync(join(storeDir, "snapshots", "no-cert.db.zst")));
  });
});

describe("an etcd snapshot whose connection goes silent halfway (a half-open path)", function () {
  this.timeout(120_000);

  it("fails within the idle limit, as a retryable error, and stores nothing", async () => {
    const etcd = await startStandaloneEtcd("snapshot-stall");
    const proxy = await stallingProxy({ host: "127.0.0.1", port: Number(new URL(etcd.endpoint).port) });
    const storeDir = mkdtempSync(join(tmpdir(), "twinsnap-store-stall-"));
    const client = connectEtcd({ endpoints: [`http://${proxy.host}:${proxy.port}`] });
    try {
      const writer = new Etcd3({ hosts: etcd.endpoint });
      // More than the HTTP/2 windows hold (1 MiB each), so the stall catches the stream in flight.
      for (let i = 0; i < 60; i++) await writer.put(`/registry/configmaps/big/cm-${i}`).value(randomBytes(100_000).toString("base64"));
      writer.close();
      const started = Date.now();
      await assert.rejects(
        saveSnapshot(client, new FilesystemStore(storeDir), "snapshots/stalled.db.zst", { idleMs: 1500, onProgress: () => proxy.stall() }),
        (err: Error) => err instanceof SnapshotStreamError && err.recoverable && /nothing moved for 1.5 s/.test(err.message),
      );
      assert.ok(Date.now() - started < 30_000);
      assert.deepEqual(readdirSync(storeDir, { recursive: true }).filter((f) => String(f).includes("stalled")), []);
    } finally {
      client.close();
      await proxy.close();
      await etcd.stop();
    }
  });
});
