// `twinsnap export --from-backup` on tarballs crafted to escape, to lie or to explode: nothing may be written
// outside --out, filters and output agree on the namespace, numbers survive, Secrets are not readable by others,
// and a gzip bomb is refused with a clear error in bounded memory.
import assert from "node:assert/strict";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { pack } from "tar-stream";
import { exportFromBackup } from "../../src/cli/export-command.js";
import { BackupArchiveError, readBackupItems } from "../../src/velero/backup-archive.js";
import { createReadStream } from "node:fs";
import { writeVeleroTarball } from "../support/velero-tarball.js";

function secret(namespace: string, name: string): Record<string, unknown> {
  return { apiVersion: "v1", kind: "Secret", metadata: { name, namespace }, type: "Opaque", data: { password: "aHVudGVyMg==" } };
}

async function writeRawTarball(path: string, entries: { name: string; body: string | Buffer }[]): Promise<void> {
  const tar = pack();
  const done = pipeline(tar, createGzip({ level: 1 }), createWriteStream(path));
  for (const e of entries) tar.entry({ name: e.name }, e.body);
  tar.finalize();
  await done;
}

/** Everything under `root` except `keep`, as relative paths. */
function filesOutside(root: string, keep: string): string[] {
  return readdirSync(root, { recursive: true, encoding: "utf8" }).filter((p) => !join(root, p).startsWith(keep) && !keep.startsWith(join(root, p)));
}

describe("export from crafted backup tarballs", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "twinsnap-crafted-"));
    mkdirSync(join(dir, "a", "b", "c"), { recursive: true });
  });

  const crafted: [string, { name: string; body: string }][] = [
    ["a namespace of ../../../escaped in the object", { name: "resources/secrets/namespaces/shop/s.json", body: JSON.stringify(secret("../../../escaped", "s")) }],
    ["a name of ../../x in the object", { name: "resources/secrets/namespaces/shop/s.json", body: JSON.stringify(secret("shop", "../../x")) }],
    ["a .. namespace in the tar path", { name: "resources/secrets/namespaces/../s.json", body: JSON.stringify(secret("..", "s")) }],
    ["a .. name in the tar path", { name: "resources/secrets/namespaces/shop/...json", body: JSON.stringify(secret("shop", "..")) }],
    ["a .. resource in the tar path", { name: "resources/../namespaces/shop/s.json", body: JSON.stringify(secret("shop", "s")) }],
    ["an object whose namespace differs from its tar path", { name: "resources/secrets/namespaces/shop/s.json", body: JSON.stringify(secret("kube-system", "s")) }],
    ["a namespace with a slash", { name: "resources/secrets/namespaces/shop/s.json", body: JSON.stringify(secret("shop/../../..", "s")) }],
    ["a name with a NUL", { name: "resources/secrets/namespaces/shop/s.json", body: JSON.stringify(secret("shop", "s\u0000x")) }],
  ];
  for (const [what, entry] of crafted) {
    it(`${what}: an error naming the entry, nothing written outside --out`, async () => {
      const tarball = join(dir, "crafted.tar.gz");
      await writeRawTarball(tarball, [{ name: "resources/secrets/namespaces/shop/fine.json", body: JSON.stringify(secret("shop", "fine")) }, entry]);
      const out = join(dir, "a", "b", "c", "out");
      await assert.rejects(exportFromBackup({ fromBackup: tarball, out, force: false }, () => undefined), (err: Error) => {
        assert.ok(err.message.includes(entry.name), `the message names the entry: ${err.message}`);
        return true;
      });
      assert.ok(!existsSync(out), "no tree");
      assert.deepEqual(filesOutside(dir, tarball), ["a", "a/b", "a/b/c"], "nothing else anywhere");
    });
  }

  it("--include-namespaces uses the same namespace as the output (the object's, checked against the tar path)", async () => {
    const tarball = join(dir, "lying.tar.gz");
    await writeRawTarball(tarball, [{ name: "resources/secrets/namespaces/shop/s.json", body: JSON.stringify(secret("kube-system", "s")) }]);
    await assert.rejects(
      exportFromBackup({ fromBackup: tarball, out: join(dir, "out"), force: false, includeNamespaces: ["shop"] }, () => undefined),
      /namespace "kube-system".*tar path.*"shop"|tar path.*"shop".*"kube-system"/,
    );
  });

  it("big integers and float text come out as they were stored", async () => {
    const tarball = join(dir, "numbers.tar.gz");
    const widget =
      '{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"blue","namespace":"shop","resourceVersion":"3"},"spec":{"max":9223372036854775807,"ratio":1.0,"uint":18446744073709551615}}';
    await writeRawTarball(tarball, [{ name: "resources/widgets.example.com/namespaces/shop/blue.json", body: widget }]);
    const out = join(dir, "out");
    await exportFromBackup({ fromBackup: tarball, out, force: false }, () => undefined);
    const text = readFileSync(join(out, "namespaces/shop/widgets.example.com/blue.yaml"), "utf8");
    assert.match(text, /\n {2}max: 9223372036854775807\n/);
    assert.match(text, /\n {2}ratio: 1\.0\n/);
    assert.match(text, /\n {2}uint: 18446744073709551615\n/);
  });

  it("Secrets are written 0600 in a 0700 tree (read back with stat)", async () => {
    const tarball = join(dir, "secrets.tar.gz");
    await writeVeleroTarball(tarball, [{ groupResource: "secrets", object: secret("shop", "db") as never }, { groupResource: "configmaps", object: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: "shop" } } }]);
    const out = join(dir, "out");
    const oldMask = process.umask(0o022);
    try {
      await exportFromBackup({ fromBackup: tarball, out, force: false }, () => undefined);
    } finally {
      process.umask(oldMask);
    }
    assert.equal(statSync(join(out, "namespaces/shop/secrets/db.yaml")).mode & 0o777, 0o600);
    for (const d of [out, join(out, "namespaces"), join(out, "namespaces/shop"), join(out, "namespaces/shop/secrets")]) {
      assert.equal(statSync(d).mode & 0o777, 0o700, d);
    }
  });

  describe("bombs", () => {
    it("an entry that decompresses beyond the per-entry limit is refused early, in bounded memory", async function () {
      this.timeout(60_000);
      const tarball = join(dir, "bomb.tar.gz");
      const zeros = Buffer.alloc(96 * 1024 * 1024, 0x20);
      await writeRawTarball(tarball, [{ name: "resources/configmaps/namespaces/shop/bomb.json", body: zeros }]);
      assert.ok(statSync(tarball).size < 2 * 1024 * 1024, "a small file");
      const rssBefore = process.memoryUsage().rss;
      await assert.rejects(
        exportFromBackup({ fromBackup: tarball, out: join(dir, "out"), force: false }, () => undefined),
        (err: unknown) => err instanceof BackupArchiveError && /bomb\.json.*larger than/.test(err.message),
      );
      assert.ok(process.memoryUsage().rss - rssBefore < 160 * 1024 * 1024, "memory stays bounded");
    });

    it("the archive's total uncompressed size is limited too (skipped entries count)", async () => {
      const tarball = join(dir, "many.tar.gz");
      const entries = Array.from({ length: 20 }, (_, i) => ({ name: `resources/other/x${i}`, body: Buffer.alloc(1024 * 1024) }));
      await writeRawTarball(tarball, entries);
      const items = readBackupItems(createReadStream(tarball), { maxTotalBytes: 8 * 1024 * 1024 });
      await assert.rejects(
        (async () => {
          for await (const _ of items);
        })(),
        (err: unknown) => err instanceof BackupArchiveError && /uncompressed.*more than 8388608 bytes/.test(err.message),
      );
    });
  });
});
