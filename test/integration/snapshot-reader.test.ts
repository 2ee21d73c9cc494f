// The offline snapshot reader against real etcd 3.6 snapshots: every key etcd serves at the snapshot's revision, with
// its value and revisions, and nothing it does not (overwritten, deleted, compacted, big values on overflow pages,
// enough keys for branch pages, an empty database).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Etcd3 } from "etcd3";
import { BoltFormatError } from "../../src/etcd/bolt-file.js";
import { SnapshotReader } from "../../src/etcd/snapshot-keys.js";
import { startStandaloneEtcd, type StandaloneEtcd } from "../support/control-plane.js";
import { peer } from "../support/peers.js";

const run = promisify(execFile);

async function snapshot(etcd: StandaloneEtcd, name: string): Promise<string> {
  const file = join(etcd.dir, `${name}.db`);
  await run(peer("ETCDCTL_BIN"), ["--endpoints", etcd.endpoint, "snapshot", "save", file]);
  return file;
}

async function read(file: string, prefix?: string): Promise<Map<string, { value: string; mod: number; create: number; version: number }>> {
  const reader = await SnapshotReader.open(file);
  try {
    const out = new Map<string, { value: string; mod: number; create: number; version: number }>();
    for await (const kv of reader.latest(prefix ? { prefix } : {})) {
      assert.ok(!out.has(kv.key), `${kv.key} listed once`);
      out.set(kv.key, { value: kv.value.toString("base64"), mod: kv.modRevision, create: kv.createRevision, version: kv.version });
    }
    return out;
  } finally {
    await reader.close();
  }
}

describe("reading etcd snapshots offline (bbolt)", function () {
  this.timeout(180_000);
  let etcd: StandaloneEtcd;
  before(async () => {
    etcd = await startStandaloneEtcd("snapshot-reader");
  });
  after(async () => etcd?.stop());

  it("reads an empty database: no keys, revision 0 as etcdutl reports it", async () => {
    const file = await snapshot(etcd, "empty");
    const reader = await SnapshotReader.open(file);
    const revision = await reader.revision();
    await reader.close();
    const { stdout } = await run(peer("ETCDUTL_BIN"), ["snapshot", "status", file, "-w", "json"]);
    assert.equal(revision, JSON.parse(stdout).revision);
    assert.equal((await read(file)).size, 0);
  });

  it("lists exactly what etcd serves at the snapshot's revision, after overwrites, deletes, a compaction and big values", async () => {
    const client = new Etcd3({ hosts: etcd.endpoint });
    try {
      for (let i = 0; i < 3000; i++) await client.put(`/registry/configmaps/ns-${i % 7}/cm-${i}`).value(`v1-${i}-${"x".repeat(i % 300)}`);
      for (let i = 0; i < 3000; i += 3) await client.put(`/registry/configmaps/ns-${i % 7}/cm-${i}`).value(`v2-${i}`);
      await client.delete().prefix("/registry/configmaps/ns-3/");
      for (let i = 0; i < 6; i++) await client.put(`/registry/secrets/big/s-${i}`).value(randomBytes(300 * 1024 + i));
      await client.put("/other/key").value("outside the registry");
      const mid = (await client.maintenance.status()).header.revision;
      await client.put("/registry/configmaps/ns-1/cm-1").value("after-compaction-point");
      await client.delete().key("/registry/configmaps/ns-1/cm-8");
      await client.put("/registry/configmaps/ns-1/cm-8").value("recreated");
      // Compact part of the history away: what remains below is still there for older keys.
      await client.kv.compact({ revision: mid, physical: true });
      const file = await snapshot(etcd, "busy");
      const expected = new Map<string, { value: string; mod: number; create: number; version: number }>();
      for (const kv of (await client.kv.range({ key: Buffer.from([0]), range_end: Buffer.from([0]) })).kvs) {
        expected.set(kv.key.toString(), { value: kv.value.toString("base64"), mod: Number(kv.mod_revision), create: Number(kv.create_revision), version: Number(kv.version) });
      }
      const status = await client.maintenance.status();
      const reader = await SnapshotReader.open(file);
      assert.equal(await reader.revision(), Number(status.header.revision));
      await reader.close();
      const got = await read(file);
      assert.equal(got.size, expected.size);
      assert.deepEqual(got, expected);
      const registry = await read(file, "/registry/secrets/");
      assert.deepEqual([...registry.keys()].sort(), [...expected.keys()].filter((k) => k.startsWith("/registry/secrets/")).sort());
      assert.equal(got.get("/registry/configmaps/ns-1/cm-8")!.version, 1, "a recreated key starts again at version 1");
    } finally {
      client.close();
    }
  });

  it("refuses files that are not etcd databases with a typed error", async () => {
    const junk = join(etcd.dir, "junk.db");
    writeFileSync(junk, randomBytes(64 * 1024));
    await assert.rejects(SnapshotReader.open(junk), (err: unknown) => err instanceof BoltFormatError && /no valid meta page/.test(err.message));
    const tiny = join(etcd.dir, "tiny.db");
    writeFileSync(tiny, "hello");
    await assert.rejects(SnapshotReader.open(tiny), BoltFormatError);
  });
});
