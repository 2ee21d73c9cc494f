// Where the keys to an encrypted snapshot come from, and what a person is told when they are not right: identity
// files, Kubernetes Secrets (through a plain reader standing in for the apiserver) and passphrases.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { generateIdentity, identityToRecipient } from "age-encryption";
import { decryptStage, encryptStage, loadIdentities, loadPassphrases, SnapshotEncryptionError, type SecretReader } from "../../src/etcd/snapshot-encryption.js";
import { encryptionPassphrase } from "../../src/cli/age-keys.js";

const dir = mkdtempSync(join(tmpdir(), "twinsnap-age-keys-"));
const text = (s: string) => Buffer.from(s);

async function roundTrip(stage: NodeJS.ReadWriteStream, input: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of Readable.from([input]).pipe(stage as unknown as NodeJS.WritableStream & Readable)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const rejectsWith = (pattern: RegExp) => (err: unknown) => err instanceof SnapshotEncryptionError && pattern.test((err as Error).message);

describe("age keys for encrypted snapshots", function () {
  this.timeout(60_000);
  let identity: string;
  let other: string;
  before(async () => {
    identity = await generateIdentity();
    other = await generateIdentity();
  });

  describe("identities from a Secret (secret:NAMESPACE/NAME[/KEY])", () => {
    const secrets: Record<string, Record<string, Buffer>> = {};
    const reader: SecretReader = async (ns, name) => secrets[`${ns}/${name}`];
    before(async () => {
      secrets["dr/age"] = { "key.txt": text(`# created: 2026-12-05\n# public key: ${await identityToRecipient(identity)}\n${identity}\n`), "README": text("ask the DR team"), second: text(`${other}\n`) };
    });

    it("reads every key of the Secret that holds identities, and leaves the others", async () => {
      assert.deepEqual(await loadIdentities(["secret:dr/age"], reader), [identity, other]);
    });

    it("reads one key when it is named", async () => {
      assert.deepEqual(await loadIdentities(["secret:dr/age/second"], reader), [other]);
    });

    it("names what is wrong: no such Secret, no such key, no identity in it, no cluster, a malformed reference", async () => {
      await assert.rejects(loadIdentities(["secret:dr/missing"], reader), rejectsWith(/there is no Secret dr\/missing in the cluster/));
      await assert.rejects(loadIdentities(["secret:dr/age/nope"], reader), rejectsWith(/has no key "nope" \(it has: README, key\.txt, second\)/));
      await assert.rejects(loadIdentities(["secret:dr/age/README"], reader), rejectsWith(/key "README" of the Secret dr\/age: a line is not an age identity/));
      await assert.rejects(loadIdentities(["secret:dr/age"]), rejectsWith(/needs a cluster to read it from \(--kubeconfig, --context\)/));
      for (const bad of ["secret:dr", "secret:Dr/age", "secret:dr/age/k/extra", "secret:/age"]) {
        await assert.rejects(loadIdentities([bad], reader), rejectsWith(/is not a Secret reference: write secret:NAMESPACE\/NAME/), bad);
      }
      const failing: SecretReader = async () => {
        throw new Error("secrets \"age\" is forbidden: User \"dr-bot\" cannot get resource \"secrets\"");
      };
      await assert.rejects(loadIdentities(["secret:dr/age"], failing), rejectsWith(/the Secret dr\/age cannot be read: secrets "age" is forbidden/));
    });

    it("still reads files, next to Secrets", async () => {
      const file = join(dir, "key.txt");
      writeFileSync(file, `${identity}\n`);
      assert.deepEqual(await loadIdentities([file, "secret:dr/age/second"], reader), [identity, other]);
    });
  });

  describe("passphrases", () => {
    it("a file's content is the passphrase, without the line end an editor leaves; an empty one is refused", async () => {
      writeFileSync(join(dir, "pass"), "correct horse battery staple\n");
      writeFileSync(join(dir, "crlf"), "  spaces count  \r\n");
      writeFileSync(join(dir, "empty"), "\n");
      assert.deepEqual(await loadPassphrases([join(dir, "pass"), join(dir, "crlf")]), ["correct horse battery staple", "  spaces count  "]);
      await assert.rejects(loadPassphrases([join(dir, "empty")]), rejectsWith(/is empty/));
      await assert.rejects(loadPassphrases(["secret:dr/age"], async () => ({})), rejectsWith(/needs its key: secret:dr\/age\/KEY/));
      assert.deepEqual(await loadPassphrases(["secret:dr/pass/p"], async () => ({ p: text("from a Secret\n") })), ["from a Secret"]);
    });

    it("encrypts with a passphrase so that only the passphrase decrypts, and says what to pass", async () => {
      const plain = Buffer.from("the etcd snapshot, every Secret of the cluster");
      const sealed = await roundTrip(encryptStage({ passphrase: "correct horse" }), plain);
      assert.match(sealed.subarray(0, 60).toString("latin1"), /^age-encryption\.org\/v1\n-> scrypt /);
      assert.deepEqual(await roundTrip(decryptStage([{ passphrase: "correct horse" }], "snapshot s"), sealed), plain);
      await assert.rejects(roundTrip(decryptStage([{ passphrase: "wrong horse" }], "snapshot s"), sealed), rejectsWith(/snapshot s cannot be decrypted/));
      assert.throws(() => decryptStage([identity], "snapshot s", { format: "age", recipients: [], passphrase: true }), rejectsWith(/encrypted with a passphrase: pass it \(--passphrase-file/));
      assert.throws(() => decryptStage([], "snapshot s", { format: "age", recipients: ["age1..."] }), rejectsWith(/pass the identity that decrypts it \(--identity FILE .*secret:NAMESPACE\/NAME\)/));
    });

    it("a passphrase and recipients together are refused before anything is read", async () => {
      await assert.rejects(encryptionPassphrase({ env: {}, encryptPassphraseFile: join(dir, "does-not-exist") }, [await identityToRecipient(identity)]), rejectsWith(/exclude each other/));
    });
  });
});
