// The S3 store against a real S3 server (moto on loopback), a real etcd and a real kube-apiserver holding Velero's
// BackupStorageLocation CRD: objects appear only when complete, multipart uploads run in bounded memory and are
// aborted on any failure, snapshots read back verified, and bsl:<name> writes only under <prefix>/plugins/twinsnap/.
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { Etcd3 } from "etcd3";
import { connectEtcd } from "../../src/etcd/etcd-client.js";
import { etcdutlSnapshotStatus } from "../../src/etcd/etcdutl.js";
import { saveSnapshot, verifyStoredSnapshot } from "../../src/etcd/snapshot.js";
import { ObjectNotFoundError, StoreWriteError } from "../../src/store/object-store.js";
import { openStore, type OpenedStore } from "../../src/store/open-store.js";
import { freePort, startStandaloneEtcd } from "../support/control-plane.js";
import { PLUGIN_FORMS, REPO_ROOT } from "../support/fixtures.js";
import { peer } from "../support/peers.js";
import { startS3Server, type S3Server } from "../support/s3-server.js";
import { testCluster } from "../support/test-clusters.js";

const run = promisify(execFile);
const TWINSNAP = join(REPO_ROOT, "bin", "twinsnap.js");
const MiB = 2 ** 20;
const PART = 5 * MiB;
const QUEUE = 2;

const text = async (body: Readable) => {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
};
const sha256Of = async (body: Readable) => {
  const h = createHash("sha256");
  for await (const c of body) h.update(c as Buffer);
  return h.digest("hex");
};

/** `total` bytes of a repeatable pattern, made as they are read; `beforeChunk` runs (and may wait) before each. */
function generated(total: number, beforeChunk: (produced: number) => Promise<void> | void = () => undefined, failAt?: { bytes: number; error: Error }): Readable {
  const chunkSize = 256 * 1024;
  let produced = 0;
  return new Readable({
    highWaterMark: chunkSize,
    read() {
      void (async () => {
        if (failAt && produced >= failAt.bytes) return this.destroy(failAt.error);
        if (produced >= total) return this.push(null);
        await beforeChunk(produced);
        const n = Math.min(chunkSize, total - produced);
        const chunk = Buffer.alloc(n);
        for (let i = 0; i < n; i += 4) chunk.writeUInt32LE((produced + i) >>> 0, i);
        produced += n;
        this.push(chunk);
      })().catch((err: Error) => this.destroy(err));
    },
  });
}

describe("S3 store on a real S3 server (moto)", function () {
  this.timeout(180_000);
  let s3: S3Server;
  const stores: OpenedStore[] = [];
  const open = async (prefix: string, query = "", s3Options: { listPageSize?: number; maxAttempts?: number } = {}, server = s3) => {
    const store = await openStore(`s3://twinsnap/${prefix}?endpoint=${server.url}&forcePathStyle=true${query}`, {
      aws: { credentials: server.credentials },
      s3: { partSizeBytes: PART, queueSize: QUEUE, ...s3Options },
    });
    stores.push(store);
    return store;
  };

  before(async () => {
    s3 = await startS3Server({ buckets: ["twinsnap"] });
  });
  after(async () => {
    for (const s of stores) s.close?.();
    await s3?.stop();
  });

  it("puts, gets, heads, lists (page by page) and deletes under its prefix", async () => {
    const store = await open("basics", "", { listPageSize: 2 });
    for (const key of ["pairs/b.json", "pairs/a.json", "pairs/nested/c.json", "pairs-old/x.json", "snapshots/s.db.gz"]) {
      const put = await store.put(key, Readable.from([Buffer.from(`{"key":"${key}"}`)]));
      assert.equal(put.sha256, createHash("sha256").update(`{"key":"${key}"}`).digest("hex"));
    }
    assert.deepEqual(await store.list("pairs"), ["pairs/a.json", "pairs/b.json", "pairs/nested/c.json"], "a directory: pairs-old/ is not under pairs/");
    assert.deepEqual(await store.list(""), ["pairs-old/x.json", "pairs/a.json", "pairs/b.json", "pairs/nested/c.json", "snapshots/s.db.gz"]);
    assert.equal(await text(await store.get("pairs/a.json")), '{"key":"pairs/a.json"}');
    assert.deepEqual(await store.head("pairs/a.json"), { size: '{"key":"pairs/a.json"}'.length });
    assert.equal(await store.head("pairs/none.json"), undefined);
    await assert.rejects(store.get("pairs/none.json"), (e: unknown) => e instanceof ObjectNotFoundError && e.key === "pairs/none.json");
    await store.delete("pairs/b.json");
    await store.delete("pairs/b.json"); // deleting what is gone is fine
    assert.deepEqual(await store.list("pairs"), ["pairs/a.json", "pairs/nested/c.json"]);
    assert.ok((await s3.keys("twinsnap")).every((k) => k.startsWith("basics/")), "nothing outside the prefix");
  });

  it("sends the checksum asked for: SHA-256, CRC32 by default, none when empty", async () => {
    const body = "checksummed bytes";
    const expectedSha = createHash("sha256").update(body).digest("base64");
    const cases: [string, string, (h: Record<string, unknown>) => void][] = [
      ["sha", "&checksumAlgorithm=SHA256", (h) => assert.equal(h.ChecksumSHA256, expectedSha)],
      ["crc", "", (h) => assert.match(String(h.ChecksumCRC32), /^[A-Za-z0-9+/]{6}==$/)],
      ["none", "&checksumAlgorithm=", (h) => assert.equal(h.ChecksumSHA256 ?? h.ChecksumCRC32 ?? h.ChecksumCRC32C, undefined)],
    ];
    for (const [prefix, query, check] of cases) {
      const store = await open(`checksums-${prefix}`, query);
      await store.put("pairs/c.json", Readable.from([Buffer.from(body)]));
      const head = await s3.client.send(new HeadObjectCommand({ Bucket: "twinsnap", Key: `checksums-${prefix}/pairs/c.json`, ChecksumMode: "ENABLED" }));
      check(head as unknown as Record<string, unknown>);
      assert.equal(await text(await store.get("pairs/c.json")), body, "and reads back (the SDK checks the checksum on the way)");
    }
  });

  it("uploads 64 MiB of unknown length as a multipart upload in bounded memory, with the right sha256", async () => {
    const store = await open("multipart", "&checksumAlgorithm=SHA256");
    const key = "snapshots/big.db.gz";
    const total = 64 * MiB;
    // How far the source runs ahead of what the server has stored: all the store can be holding in memory.
    let maxAhead = 0;
    const storedOnServer = async () => {
      const uploads = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: "twinsnap", Prefix: `multipart/${key}` }));
      const id = uploads.Uploads?.[0]?.UploadId;
      if (!id) return 0;
      const parts = await s3.client.send(new ListPartsCommand({ Bucket: "twinsnap", Key: `multipart/${key}`, UploadId: id }));
      return (parts.Parts ?? []).reduce((sum, p) => sum + (p.Size ?? 0), 0);
    };
    const expected = createHash("sha256");
    const source = generated(total, async (produced) => {
      if (produced % MiB === 0) maxAhead = Math.max(maxAhead, produced - (await storedOnServer()));
    });
    source.on("data", (c: Buffer) => expected.update(c));
    const put = await store.put(key, source);
    assert.equal(put.size, total);
    assert.equal(put.sha256, expected.digest("hex"));
    const bound = (QUEUE + 2) * PART;
    assert.ok(maxAhead <= bound, `the source ran ${maxAhead / MiB} MiB ahead of the server; the bound is ${bound / MiB} MiB (part size × (queue + 2))`);
    assert.ok(maxAhead >= PART, "sanity: the measure sees parts in flight");
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: "twinsnap", Key: `multipart/${key}` }));
    assert.match(head.ETag ?? "", /-13"?$/, "13 parts of 5 MiB");
    assert.equal(await sha256Of(await store.get(key)), put.sha256, "reads back the same bytes");
    assert.deepEqual(await s3.pendingUploads("twinsnap"), []);
  });

  it("a source that fails after some parts: StoreWriteError, nothing under the key, the upload aborted", async () => {
    const store = await open("cut");
    const cases = [
      { key: "snapshots/after-parts.db.gz", bytes: 3 * PART + MiB, error: new Error("etcd stream reset"), recoverable: false },
      { key: "snapshots/first-part.db.gz", bytes: MiB, error: Object.assign(new Error("14 UNAVAILABLE"), { recoverable: true }), recoverable: true },
    ];
    for (const c of cases) {
      await assert.rejects(store.put(c.key, generated(64 * MiB, undefined, c)), (e: unknown) => {
        assert.ok(e instanceof StoreWriteError, String(e));
        assert.equal(e.key, c.key);
        assert.match(e.message, new RegExp(c.error.message));
        assert.equal(e.recoverable, c.recoverable, "recoverable as the source's error says");
        return true;
      });
      assert.equal(await store.head(c.key), undefined);
    }
    assert.deepEqual(await s3.keys("twinsnap", "cut/"), []);
    assert.deepEqual(await s3.pendingUploads("twinsnap"), [], "no parts left behind");
  });

  it("a writer killed mid-upload leaves no object; its parts go with the next write of the key", async () => {
    const key = "snapshots/killed.db.gz";
    const url = `s3://twinsnap/killed?endpoint=${s3.url}&forcePathStyle=true`;
    const child = spawn(process.execPath, [join(REPO_ROOT, "dist", "test", "support", "s3-upload-child.js"), url, key], {
      env: { ...process.env, AWS_SHARED_CREDENTIALS_FILE: s3.credentialsFile },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    try {
      // Wait until the server holds parts of its upload, then kill it: it can abort nothing.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const uploads = await s3.pendingUploads("twinsnap");
        const mine = uploads.find((u) => u.key === `killed/${key}`);
        const parts = mine ? await s3.client.send(new ListPartsCommand({ Bucket: "twinsnap", Key: mine.key, UploadId: mine.uploadId })) : undefined;
        if ((parts?.Parts?.length ?? 0) >= 2) break;
        assert.ok(Date.now() < deadline, "the child uploaded no parts within 60 s");
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      child.kill("SIGKILL");
      await exited;
    }
    assert.deepEqual(await s3.keys("twinsnap", "killed/"), [], "no object: only CompleteMultipartUpload makes one");
    assert.equal((await s3.pendingUploads("twinsnap")).filter((u) => u.key === `killed/${key}`).length, 1, "its upload is left open (invisible, but billed)");
    const store = await open("killed");
    await store.put(key, generated(2 * PART));
    assert.deepEqual(await s3.pendingUploads("twinsnap"), [], "the next write of the key aborted the leftover");
    assert.equal((await store.head(key))?.size, 2 * PART);
  });

  it("the server killed mid-upload: a recoverable StoreWriteError, and no object when it is back", async () => {
    const own = await startS3Server({ buckets: ["twinsnap"] });
    try {
      const store = await open("crash", "", { maxAttempts: 2 }, own);
      const key = "snapshots/crash.db.gz";
      let killed = false;
      const source = generated(256 * MiB, async (produced) => {
        if (!killed && produced >= 3 * PART) {
          killed = true;
          await own.kill();
        }
      });
      await assert.rejects(store.put(key, source), (e: unknown) => {
        assert.ok(e instanceof StoreWriteError, String(e));
        assert.equal(e.recoverable, true, `a dead server is worth a retry: ${e.message}`);
        return true;
      });
      // The abort could not reach the server. On AWS the upload's parts would stay (never an object: only
      // CompleteMultipartUpload makes one) until the next write of the key aborts them, as the test above shows,
      // or a lifecycle rule does. moto keeps nothing across a restart, so here nothing at all remains.
      await own.restart();
      await own.createBucket("twinsnap");
      assert.equal(await store.head(key), undefined);
      assert.deepEqual(await own.pendingUploads("twinsnap"), []);
      await store.put(key, Readable.from([Buffer.from("after the crash")]));
      assert.equal(await text(await store.get(key)), "after the crash", "the store works again once the server is back");
    } finally {
      await own.stop();
    }
  });

  describe("etcd snapshots", () => {
    let etcd: Awaited<ReturnType<typeof startStandaloneEtcd>>;
    before(async () => {
      etcd = await startStandaloneEtcd("s3-snapshot");
      const client = new Etcd3({ hosts: etcd.endpoint });
      for (let i = 0; i < 500; i++) await client.put(`/registry/configmaps/shop/cm-${i}`).value(`value-${i}-${"y".repeat(300)}`);
      client.close();
    });
    after(async () => etcd?.stop());

    it("saveSnapshot streams a real etcd snapshot into S3; it reads back verified and etcdutl accepts it", async () => {
      const store = await open("etcd");
      const client = connectEtcd({ endpoints: [etcd.endpoint] });
      try {
        const record = await saveSnapshot(client, store, "snapshots/direct.db.zst");
        assert.equal(record.store, store.url);
        await verifyStoredSnapshot(store, record);
        const status = await etcdutlSnapshotStatus(peer("ETCDUTL_BIN"), store, record.key, record);
        assert.equal(String(status.revision), record.revision);
        assert.ok(status.totalKey >= 500);
      } finally {
        client.close();
      }
    });

    it("twinsnap etcd snapshot and restore with --store s3://..., credentials from AWS_SHARED_CREDENTIALS_FILE", async () => {
      const home = mkdtempSync(join(tmpdir(), "twinsnap-home-"));
      const env = { ...process.env, HOME: home, AWS_SHARED_CREDENTIALS_FILE: s3.credentialsFile, AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "" };
      const url = `s3://twinsnap/cli/prod?endpoint=${s3.url}&forcePathStyle=true&region=eu-west-1&checksumAlgorithm=SHA256`;
      const { stdout } = await run(TWINSNAP, ["etcd", "snapshot", "--endpoints", etcd.endpoint, "--store", url, "--name", "first", "--etcdutl", peer("ETCDUTL_BIN")], { env });
      const record = JSON.parse(stdout);
      assert.equal(record.store, "s3://twinsnap/cli/prod");
      assert.deepEqual(await s3.keys("twinsnap", "cli/"), ["cli/prod/snapshots/first.db.zst", "cli/prod/snapshots/first.json"]);
      const dataDir = join(home, "restored");
      const restored = await run(TWINSNAP, ["etcd", "restore", "--snapshot", "first", "--store", url, "--name", "m1", "--data-dir", dataDir, "--etcdutl", peer("ETCDUTL_BIN")], { env });
      assert.match(restored.stdout, /restored m1 into/);
      await assert.rejects(run(TWINSNAP, ["pairs", "list", "--store", `s3://twinsnap/x?endpoint=${s3.url}&profile=nope`], { env }), (e: { stderr: string; code: number }) => {
        assert.equal(e.code, 1);
        assert.match(e.stderr, /profile "nope": no such profile \(it has default\)/);
        return true;
      });
    });
  });

  describe("the single executable", () => {
    let etcd: Awaited<ReturnType<typeof startStandaloneEtcd>>;
    before(async () => {
      if (!existsSync(PLUGIN_FORMS.executable)) throw new Error(`${PLUGIN_FORMS.executable} is missing: run "npm run build:executable" (npm test does)`);
      etcd = await startStandaloneEtcd("s3-executable");
      const client = new Etcd3({ hosts: etcd.endpoint });
      for (let i = 0; i < 20; i++) await client.put(`/registry/configmaps/exe/cm-${i}`).value(`v${i}`);
      client.close();
    });
    after(async () => etcd?.stop());

    it("loads its S3 store from an asset of its own and writes there; the store's errors keep their type", async () => {
      const env = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: s3.credentialsFile };
      const url = `s3://twinsnap/exe?endpoint=${s3.url}&forcePathStyle=true`;
      const { stdout } = await run(PLUGIN_FORMS.executable, ["etcd", "snapshot", "--endpoints", etcd.endpoint, "--store", url, "--name", "from-exe", "--etcdutl", peer("ETCDUTL_BIN")], { env });
      assert.equal(JSON.parse(stdout).store, "s3://twinsnap/exe");
      assert.deepEqual(await s3.keys("twinsnap", "exe/"), ["exe/snapshots/from-exe.db.zst", "exe/snapshots/from-exe.json"]);
      // "storing the snapshot failed" only if saveSnapshot sees a StoreWriteError: the class crosses from the asset.
      const missingBucket = `s3://no-such-bucket/exe?endpoint=${s3.url}&forcePathStyle=true`;
      await assert.rejects(run(PLUGIN_FORMS.executable, ["etcd", "snapshot", "--endpoints", etcd.endpoint, "--store", missingBucket, "--name", "x"], { env }), (e: { stderr: string; code: number }) => {
        assert.equal(e.code, 1);
        assert.match(e.stderr, /storing the snapshot failed: writing snapshots\/x.db.zst to s3:\/\/no-such-bucket\/exe failed: .*(bucket does not exist|NoSuchBucket)/i);
        return true;
      });
    });
  });

  describe("bsl:<name> on a real kube-apiserver", () => {
    const ns = "twinsnap-bsl";
    let kubeconfig: string;
    let etcdEndpoint: string;
    const credentialsText = () => `[default]\naws_access_key_id = ${s3.credentials.accessKeyId}\naws_secret_access_key = ${s3.credentials.secretAccessKey}\n`;

    before(async function () {
      this.timeout(240_000);
      const cluster = await testCluster("source");
      kubeconfig = cluster.kubeconfigPath;
      etcdEndpoint = cluster.controlPlane?.etcdEndpoint ?? assert.fail("the bsl: test needs the control plane it starts (its etcd)");
      const dir = mkdtempSync(join(tmpdir(), "twinsnap-bsl-"));
      const crds = execFileSync(peer("VELERO_BIN"), ["install", "--crds-only", "--dry-run", "-o", "yaml"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
      writeFileSync(join(dir, "velero-crds.yaml"), crds);
      await cluster.kubectl(["apply", "-f", join(dir, "velero-crds.yaml")]);
      await cluster.kubectl(["wait", "--for=condition=Established", "crd/backupstoragelocations.velero.io"]);
      await s3.createBucket("velero");
      const location = (name: string, spec: object) => ({ apiVersion: "velero.io/v1", kind: "BackupStorageLocation", metadata: { name, namespace: ns }, spec });
      const secret = (name: string, key: string, value: string) => ({ apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns }, stringData: { [key]: value } });
      const s3Config = { region: "us-east-1", s3ForcePathStyle: "true", s3Url: s3.url };
      const objects = [
        { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
        // What `velero install --secret-file` creates, and a BSL that names its own Secret and profile.
        secret("cloud-credentials", "cloud", credentialsText()),
        secret("bsl-creds", "aws", `[backup]\naws_access_key_id = k\naws_secret_access_key = s\n`),
        location("default", { provider: "aws", objectStorage: { bucket: "velero", prefix: "cluster-a" }, config: s3Config }),
        location("own-secret", { provider: "velero.io/aws", objectStorage: { bucket: "velero", prefix: "cluster-b" }, config: { ...s3Config, profile: "backup" }, credential: { name: "bsl-creds", key: "aws" } }),
        location("wrong-key", { provider: "aws", objectStorage: { bucket: "velero" }, config: s3Config, credential: { name: "bsl-creds", key: "cloud" } }),
        location("gcp", { provider: "velero.io/gcp", objectStorage: { bucket: "velero" } }),
      ];
      writeFileSync(join(dir, "bsl.json"), JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }));
      await cluster.kubectl(["apply", "-f", join(dir, "bsl.json")]);
      // Velero's own objects in the location: twinsnap must stay out of their way.
      await s3.client.send(new PutObjectCommand({ Bucket: "velero", Key: "cluster-a/backups/nightly/velero-backup.json", Body: "{}" }));
    });

    const twinsnap = (args: string[]) => {
      // No AWS variables and an empty HOME: the credentials can only come from the cluster.
      const home = mkdtempSync(join(tmpdir(), "twinsnap-home-"));
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_")));
      return run(TWINSNAP, [...args, "--kubeconfig", kubeconfig, "--velero-namespace", ns], { env: { ...env, HOME: home } });
    };

    it("twinsnap etcd snapshot --store bsl:default writes only under <prefix>/plugins/twinsnap/ with cloud-credentials", async () => {
      const { stdout } = await twinsnap(["etcd", "snapshot", "--endpoints", etcdEndpoint, "--store", "bsl:default", "--name", "bsl-first"]);
      assert.equal(JSON.parse(stdout).store, "s3://velero/cluster-a/plugins/twinsnap");
      assert.deepEqual(await s3.keys("velero", "cluster-a/"), [
        "cluster-a/backups/nightly/velero-backup.json",
        "cluster-a/plugins/twinsnap/snapshots/bsl-first.db.zst",
        "cluster-a/plugins/twinsnap/snapshots/bsl-first.json",
      ]);
      const topLevel = new Set((await s3.keys("velero", "cluster-a/")).map((k) => k.split("/")[1]));
      assert.deepEqual([...topLevel].sort(), ["backups", "plugins"], "only directories Velero accepts in its prefix");
      const listed = await twinsnap(["pairs", "list", "--store", "bsl:default"]);
      assert.match(listed.stdout, /^BACKUP\s+STATE/);
    });

    it("a BSL naming its own Secret and profile (spec.credential, config.profile) is read with them", async () => {
      const { stdout } = await twinsnap(["etcd", "snapshot", "--endpoints", etcdEndpoint, "--store", "bsl:own-secret", "--name", "own"]);
      assert.equal(JSON.parse(stdout).store, "s3://velero/cluster-b/plugins/twinsnap");
      assert.deepEqual(await s3.keys("velero", "cluster-b/"), ["cluster-b/plugins/twinsnap/snapshots/own.db.zst", "cluster-b/plugins/twinsnap/snapshots/own.json"]);
    });

    it("the coordinator pairs a backup into bsl:default; pairs list/verify and restore plan read it from there", async function () {
      this.timeout(180_000);
      const home = mkdtempSync(join(tmpdir(), "twinsnap-home-"));
      const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_"))), HOME: home };
      const coordinator = spawn(TWINSNAP, ["coordinator", "--store", "bsl:default", "--etcd-endpoints", etcdEndpoint, "--kubeconfig", kubeconfig, "--velero-namespace", ns, "--no-leader-elect", "--metrics-address", `127.0.0.1:${await freePort()}`], { env, stdio: ["ignore", "ignore", "pipe"] });
      let log = "";
      coordinator.stderr!.on("data", (c: Buffer) => (log += c.toString()));
      const exited = new Promise<number | null>((r) => coordinator.once("exit", (code) => r(code)));
      const kubectl = (args: string[]) => run(peer("KUBECTL_BIN"), ["--kubeconfig", kubeconfig, "-n", ns, ...args]);
      const pairKeys = async () => (await s3.keys("velero", "cluster-a/plugins/twinsnap/pairs/")).filter((k) => k.endsWith(".json"));
      try {
        await kubectl(["create", "-f", await backupFile("bsl-nightly")]);
        await kubectl(["patch", "backups.velero.io", "bsl-nightly", "--type=merge", "-p", JSON.stringify({ status: { phase: "InProgress" } })]);
        const deadline = Date.now() + 120_000;
        const pairState = async () => {
          const keys = await pairKeys();
          if (keys.length === 0) return undefined;
          const store = await openStore(`s3://velero/cluster-a/plugins/twinsnap?endpoint=${s3.url}&forcePathStyle=true`, { aws: { credentials: s3.credentials } });
          stores.push(store);
          return JSON.parse(await text(await store.get(keys[0]!.slice("cluster-a/plugins/twinsnap/".length)))) as { state: string; snapshot?: unknown };
        };
        while (!(await pairState())?.snapshot) {
          assert.ok(Date.now() < deadline && coordinator.exitCode === null, `no snapshot in the BSL within 120 s; coordinator log:\n${log}`);
          await new Promise((r) => setTimeout(r, 250));
        }
        await kubectl(["patch", "backups.velero.io", "bsl-nightly", "--type=merge", "-p", JSON.stringify({ status: { phase: "Completed" } })]);
        while ((await pairState())?.state !== "Paired") {
          assert.ok(Date.now() < deadline && coordinator.exitCode === null, `not Paired within 120 s; coordinator log:\n${log}`);
          await new Promise((r) => setTimeout(r, 250));
        }
      } finally {
        coordinator.kill("SIGTERM");
        await exited;
      }
      assert.ok((await s3.keys("velero", "cluster-a/")).every((k) => k.startsWith("cluster-a/backups/") || k.startsWith("cluster-a/plugins/twinsnap/")));
      const listed = await twinsnap(["pairs", "list", "--store", "bsl:default"]);
      assert.match(listed.stdout, /bsl-nightly\s+Paired\s/);
      const verified = await twinsnap(["pairs", "verify", "bsl-nightly", "--store", "bsl:default", "--etcdutl", peer("ETCDUTL_BIN")]);
      assert.match(verified.stdout, /^OK\s+bsl-nightly \(Paired, revision \d+\)/m);
      const plan = await twinsnap(["restore", "plan", "--backup", "bsl-nightly", "--store", "bsl:default", "--json"]);
      const steps = JSON.parse(plan.stdout) as { mode: string; steps: { commands?: string[] }[] };
      assert.equal(steps.mode, "same-cluster");
      // Its etcd restore runs while the apiserver is down: it names the bucket, not the BSL.
      const bucketUrl = `s3://velero/cluster-a/plugins/twinsnap?region=us-east-1&endpoint=${s3.url}&forcePathStyle=true`;
      const restoreCommand = steps.steps.flatMap((s) => s.commands ?? []).find((c) => c.startsWith("twinsnap etcd restore"))!;
      assert.ok(restoreCommand.includes(`--store '${bucketUrl}'`), restoreCommand);
      assert.match(plan.stderr, /bsl:default is read through the apiserver/);
      // And so it is, with no cluster at all: the URL and the credentials file only.
      const offline = await run(TWINSNAP, ["pairs", "verify", "bsl-nightly", "--store", bucketUrl], { env: { ...env, AWS_SHARED_CREDENTIALS_FILE: s3.credentialsFile, KUBECONFIG: "/nonexistent" } });
      assert.match(offline.stdout, /^OK\s+bsl-nightly/m);
    });

    const backupFile = async (name: string) => {
      const file = join(mkdtempSync(join(tmpdir(), "twinsnap-backup-")), `${name}.json`);
      writeFileSync(file, JSON.stringify({ apiVersion: "velero.io/v1", kind: "Backup", metadata: { name, namespace: ns }, spec: { storageLocation: "default", includedNamespaces: ["*"] } }));
      return file;
    };

    const refused: [string, RegExp][] = [
      ["bsl:missing", /BackupStorageLocation twinsnap-bsl\/missing: does not exist; list them with: kubectl get backupstoragelocations -n twinsnap-bsl/],
      ["bsl:gcp", /BackupStorageLocation twinsnap-bsl\/gcp: its provider is "velero.io\/gcp"/],
      ["bsl:wrong-key", /BackupStorageLocation twinsnap-bsl\/wrong-key: Secret twinsnap-bsl\/bsl-creds has no key "cloud" \(it has aws\); fix spec.credential.key/],
    ];
    for (const [store, message] of refused) {
      it(`--store ${store}: exit 1 with the BSL and what to fix, nothing written`, async () => {
        const before = await s3.keys("velero");
        await assert.rejects(twinsnap(["pairs", "list", "--store", store]), (e: { code: number; stderr: string }) => {
          assert.equal(e.code, 1);
          assert.match(e.stderr, message);
          return true;
        });
        assert.deepEqual(await s3.keys("velero"), before);
      });
    }
  });
});
