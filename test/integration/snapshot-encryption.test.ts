// Encrypted etcd snapshots on a real etcd, checked against Debian's `age` 1.1.1 both ways: what twinsnap encrypts
// a person decrypts with `age -d` during a disaster, and what `age` encrypts twinsnap restores. Also: a restore
// keeps its decompressed database private (0600) and the next run removes what a killed run left.
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Etcd3 } from "etcd3";
import { REPO_ROOT } from "../support/fixtures.js";
import { startControlPlane, startStandaloneEtcd } from "../support/control-plane.js";
import { peer } from "../support/peers.js";
import { FilesystemStore } from "../../src/store/filesystem-store.js";
import { InsufficientSpaceError, readSnapshotPlaintext, saveSnapshot, verifyStoredSnapshot, type SnapshotRecord } from "../../src/etcd/snapshot.js";
import { connectEtcd } from "../../src/etcd/etcd-client.js";
import { SnapshotEncryptionError } from "../../src/etcd/snapshot-encryption.js";
import { restoreMember, snapshotFileFor } from "../../src/etcd/restore.js";

const run = promisify(execFile);
const TWINSNAP = join(REPO_ROOT, "bin", "twinsnap.js");

/**
 * Runs the age CLI on a terminal of its own (`script` from util-linux): age reads a passphrase only from a
 * terminal, so a person's answer is typed at each prompt it prints.
 */
function ageOnTerminal(args: string[], answers: string[]): Promise<void> {
  const quoted = ["age", ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const child = spawn("script", ["-qec", quoted, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"] });
  let seen = "";
  let answered = 0;
  const onOutput = (d: Buffer) => {
    seen += d.toString();
    const prompts = seen.match(/passphrase[^:\n]*:/gi)?.length ?? 0;
    while (answered < prompts && answered < answers.length) child.stdin.write(`${answers[answered++]}\n`);
  };
  child.stdout.on("data", onOutput);
  child.stderr.on("data", onOutput);
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`age ${args.join(" ")} exited ${code}: ${seen.slice(-500)}`))));
  });
}

function ageKey(dir: string, name: string): { file: string; recipient: string } {
  const file = join(dir, `${name}.txt`);
  execFileSync("age-keygen", ["-o", file], { stdio: "ignore" });
  const recipient = execFileSync("age-keygen", ["-y", file], { encoding: "utf8" }).trim();
  return { file, recipient };
}

describe("encrypted etcd snapshots (age), with the real age CLI", function () {
  this.timeout(120_000);
  let etcd: Awaited<ReturnType<typeof startStandaloneEtcd>>;
  const dir = mkdtempSync(join(tmpdir(), "twinsnap-age-"));
  const storeDir = join(dir, "store");
  let alice: { file: string; recipient: string };
  let bob: { file: string; recipient: string };
  let record: SnapshotRecord;

  before(async () => {
    alice = ageKey(dir, "alice");
    bob = ageKey(dir, "bob");
    etcd = await startStandaloneEtcd("age");
    const client = new Etcd3({ hosts: etcd.endpoint });
    for (let i = 0; i < 200; i++) await client.put(`/registry/secrets/shop/s-${i}`).value(`password-${i}`);
    client.close();
  });
  after(async () => etcd?.stop());

  it("etcd snapshot --encrypt-to stores an age file; the record says so; no plaintext in the store", async () => {
    writeFileSync(join(dir, "recipients.txt"), `# the DR team\n${bob.recipient}\n`);
    const { stdout } = await run(TWINSNAP, ["etcd", "snapshot", "--endpoints", etcd.endpoint, "--store", `file://${storeDir}`, "--name", "enc", "--encrypt-to", alice.recipient, "--encrypt-to-file", join(dir, "recipients.txt"), "--etcdutl", peer("ETCDUTL_BIN")]);
    record = JSON.parse(stdout) as SnapshotRecord;
    assert.deepEqual(record.encryption, { format: "age", recipients: [alice.recipient, bob.recipient] });
    assert.equal(record.key, "snapshots/enc.db.zst.age");
    const stored = readFileSync(join(storeDir, record.key));
    assert.ok(stored.subarray(0, 21).toString() === "age-encryption.org/v1", "an age file");
    assert.ok(!stored.includes("password-7"), "no plaintext");
  });

  it("a person decrypts it with Debian's age CLI and zstd, and gets the snapshot etcd sent", () => {
    for (const key of [alice, bob]) {
      const zst = execFileSync("age", ["-d", "-i", key.file, join(storeDir, record.key)], { maxBuffer: 1 << 30 });
      const snapshot = execFileSync("zstd", ["-d", "-c"], { input: zst, maxBuffer: 1 << 30 });
      assert.equal(createHash("sha256").update(snapshot).digest("hex"), record.snapshotSha256);
    }
  });

  it("verifies as stored without an identity, and the snapshot inside with one; a wrong identity is a clear error", async () => {
    const store = new FilesystemStore(storeDir);
    assert.equal(await verifyStoredSnapshot(store, record), "stored-only");
    assert.equal(await verifyStoredSnapshot(store, record, [readFileSync(alice.file, "utf8").split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"))!]), "stored-and-snapshot");
    const stranger = ageKey(dir, "stranger");
    const strangerKey = readFileSync(stranger.file, "utf8").split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"))!;
    await assert.rejects(verifyStoredSnapshot(store, record, [strangerKey]), (err: unknown) => err instanceof SnapshotEncryptionError && /cannot be decrypted/.test((err as Error).message));
  });

  it("etcd restore without --identity refuses before touching the data dir; with it, restores", async () => {
    const dataDir = join(dir, "member-a");
    await assert.rejects(
      run(TWINSNAP, ["etcd", "restore", "--snapshot", "enc", "--store", `file://${storeDir}`, "--name", "a", "--data-dir", dataDir, "--etcdutl", peer("ETCDUTL_BIN")]),
      /age-encrypted: pass the identity/,
    );
    assert.ok(!existsSync(dataDir));
    await run(TWINSNAP, ["etcd", "restore", "--snapshot", "enc", "--store", `file://${storeDir}`, "--name", "a", "--data-dir", dataDir, "--etcdutl", peer("ETCDUTL_BIN"), "--identity", bob.file]);
    assert.ok(readdirSync(join(dataDir, "member")).includes("snap"));
  });

  it("twinsnap decrypts what the age CLI encrypted (the reverse direction)", async () => {
    const store = new FilesystemStore(storeDir);
    const plainZst = join(dir, "plain.db.zst");
    writeFileSync(plainZst, execFileSync("age", ["-d", "-i", alice.file, join(storeDir, record.key)], { maxBuffer: 1 << 30 }));
    execFileSync("age", ["-r", alice.recipient, "-o", join(storeDir, "snapshots", "by-cli.db.zst.age"), plainZst]);
    const byCli = { ...record, key: "snapshots/by-cli.db.zst.age" };
    const aliceKey = readFileSync(alice.file, "utf8").split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"))!;
    const hash = createHash("sha256");
    for await (const chunk of await readSnapshotPlaintext(store, byCli, [aliceKey])) hash.update(chunk as Buffer);
    assert.equal(hash.digest("hex"), record.snapshotSha256);
  });

  it("the decompressed database is 0600 while etcdutl reads it, and a killed run's leftover is removed by the next run", async () => {
    const store = new FilesystemStore(storeDir);
    const dataDir = join(dir, "member-b");
    const leftover = snapshotFileFor(dataDir, 2 ** 22 + 1, "deadbeef"); // a pid above Linux's pid_max: its run is dead
    writeFileSync(leftover, "every secret of the cluster, left by a killed restore", { mode: 0o644 });
    // etcdutl behind a probe that records the mode of the file it is given, then runs the real one.
    const probe = join(dir, "etcdutl-probe.sh");
    const modes = join(dir, "modes.txt");
    writeFileSync(probe, `#!/bin/sh\nstat -c %a "$3" >> ${modes}\nexec ${peer("ETCDUTL_BIN")} "$@"\n`);
    chmodSync(probe, 0o755);
    const aliceKey = readFileSync(alice.file, "utf8").split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"))!;
    await restoreMember({ store, snapshot: record, member: { name: "b", peerUrl: "http://127.0.0.1:2380" }, cluster: [{ name: "b", peerUrl: "http://127.0.0.1:2380" }], dataDir, etcdutl: probe, bumpRevision: 1000, force: false, identities: [aliceKey] });
    assert.equal(readFileSync(modes, "utf8").trim(), "600");
    assert.ok(!existsSync(leftover), "gone after the run");
    // A run that fails (wrong identity) still removes a leftover first.
    writeFileSync(leftover, "left again");
    await assert.rejects(restoreMember({ store, snapshot: record, member: { name: "c", peerUrl: "http://127.0.0.1:2380" }, cluster: [{ name: "c", peerUrl: "http://127.0.0.1:2380" }], dataDir, etcdutl: probe, bumpRevision: 1000, force: false, identities: [] }), SnapshotEncryptionError);
    assert.ok(!existsSync(leftover));
  });

  it("a snapshot refuses to start when the store has less free space than the database, and says why", async () => {
    class NearlyFullStore extends FilesystemStore {
      override async freeBytes(): Promise<number> {
        return 4096;
      }
    }
    const store = new NearlyFullStore(join(dir, "full-store"));
    const client = connectEtcd({ endpoints: [etcd.endpoint] });
    try {
      await assert.rejects(saveSnapshot(client, store, "snapshots/full.db.gz"), (err: unknown) => err instanceof InsufficientSpaceError && /4096 bytes free, the snapshot may take up to \d+ bytes/.test((err as Error).message));
      assert.deepEqual(await store.list(""), [], "nothing written");
      const record = await saveSnapshot(client, new FilesystemStore(join(dir, "roomy-store")), "snapshots/roomy.db.gz");
      assert.ok(record.snapshotBytes > 0, "with real free space it runs");
    } finally {
      client.close();
    }
  });

  describe("with a passphrase instead of keys (age -p)", () => {
    let withPassphrase: SnapshotRecord;
    const passphraseFile = join(dir, "passphrase");

    it("etcd snapshot --encrypt-passphrase-file: the record says so, and Debian's age decrypts it with the passphrase typed at its prompt", async () => {
      writeFileSync(passphraseFile, "correct horse battery staple\n", { mode: 0o600 });
      const { stdout } = await run(TWINSNAP, ["etcd", "snapshot", "--endpoints", etcd.endpoint, "--store", `file://${storeDir}`, "--name", "pass", "--encrypt-passphrase-file", passphraseFile]);
      withPassphrase = JSON.parse(stdout) as SnapshotRecord;
      assert.deepEqual(withPassphrase.encryption, { format: "age", recipients: [], passphrase: true });
      const stored = readFileSync(join(storeDir, withPassphrase.key));
      assert.match(stored.subarray(0, 40).toString("latin1"), /^age-encryption\.org\/v1\n-> scrypt /);
      const out = join(dir, "pass.db.zst");
      await ageOnTerminal(["-d", "-o", out, join(storeDir, withPassphrase.key)], ["correct horse battery staple"]);
      const snapshot = execFileSync("zstd", ["-d", "-c", out], { maxBuffer: 1 << 30 });
      assert.equal(createHash("sha256").update(snapshot).digest("hex"), withPassphrase.snapshotSha256);
    });

    it("etcd restore asks for the passphrase by name, and restores with --passphrase-file", async () => {
      const dataDir = join(dir, "member-p");
      await assert.rejects(
        run(TWINSNAP, ["etcd", "restore", "--snapshot", "pass", "--store", `file://${storeDir}`, "--name", "p", "--data-dir", dataDir, "--etcdutl", peer("ETCDUTL_BIN"), "--identity", alice.file]),
        /encrypted with a passphrase: pass it \(--passphrase-file/,
      );
      assert.ok(!existsSync(dataDir));
      await run(TWINSNAP, ["etcd", "restore", "--snapshot", "pass", "--store", `file://${storeDir}`, "--name", "p", "--data-dir", dataDir, "--etcdutl", peer("ETCDUTL_BIN"), "--passphrase-file", passphraseFile]);
      assert.ok(readdirSync(join(dataDir, "member")).includes("snap"));
    });

    it("twinsnap reads what `age -p` encrypted (the reverse direction)", async () => {
      const plainZst = join(dir, "pass-plain.db.zst");
      await ageOnTerminal(["-d", "-o", plainZst, join(storeDir, withPassphrase.key)], ["correct horse battery staple"]);
      await ageOnTerminal(["-p", "-o", join(storeDir, "snapshots", "by-cli-p.db.zst.age"), plainZst], ["a phrase typed by a person", "a phrase typed by a person"]);
      const hash = createHash("sha256");
      for await (const chunk of await readSnapshotPlaintext(new FilesystemStore(storeDir), { ...withPassphrase, key: "snapshots/by-cli-p.db.zst.age" }, [{ passphrase: "a phrase typed by a person" }])) hash.update(chunk as Buffer);
      assert.equal(hash.digest("hex"), withPassphrase.snapshotSha256);
    });

    it("--encrypt-passphrase-file beside --encrypt-to is refused before etcd is asked", async () => {
      await assert.rejects(
        run(TWINSNAP, ["etcd", "snapshot", "--endpoints", "http://127.0.0.1:1", "--store", `file://${storeDir}`, "--name", "both", "--encrypt-passphrase-file", passphraseFile, "--encrypt-to", alice.recipient]),
        /exclude each other: age allows no recipient beside a passphrase/,
      );
    });
  });

  describe("identities kept in a Kubernetes Secret", () => {
    let cp: Awaited<ReturnType<typeof startControlPlane>>;
    before(async () => {
      cp = await startControlPlane({ name: "age-secret" });
      const kubectl = (...args: string[]) => run(peer("KUBECTL_BIN"), ["--kubeconfig", cp.kubeconfigPath, ...args]);
      await kubectl("create", "namespace", "dr");
      // As the runbook says: age-keygen's file straight into a Secret, next to a note for people.
      await kubectl("create", "secret", "generic", "snapshot-key", "-n", "dr", `--from-file=key.txt=${bob.file}`, "--from-literal=README=ask the DR team");
    });
    after(async () => cp?.stop());

    it("etcd restore --identity secret:dr/snapshot-key reads the key from the cluster --kubeconfig names", async () => {
      const dataDir = join(dir, "member-s");
      await run(TWINSNAP, ["etcd", "restore", "--snapshot", "enc", "--store", `file://${storeDir}`, "--name", "s", "--data-dir", dataDir, "--etcdutl", peer("ETCDUTL_BIN"), "--kubeconfig", cp.kubeconfigPath, "--identity", "secret:dr/snapshot-key"]);
      assert.ok(readdirSync(join(dataDir, "member")).includes("snap"));
    });

    it("a Secret that is not there, or a key it does not have, is named in the error and nothing is restored", async () => {
      const dataDir = join(dir, "member-t");
      const restore = (identity: string) => run(TWINSNAP, ["etcd", "restore", "--snapshot", "enc", "--store", `file://${storeDir}`, "--name", "t", "--data-dir", dataDir, "--etcdutl", peer("ETCDUTL_BIN"), "--kubeconfig", cp.kubeconfigPath, "--identity", identity]);
      await assert.rejects(restore("secret:dr/no-such-key"), /there is no Secret dr\/no-such-key in the cluster/);
      await assert.rejects(restore("secret:dr/snapshot-key/id"), /has no key "id" \(it has: README, key\.txt\)/);
      assert.ok(!existsSync(dataDir));
    });
  });
});
