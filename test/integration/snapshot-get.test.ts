// Objects out of an etcd snapshot, offline, against a real kube-apiserver 1.36 that encrypts at rest (Secrets with
// aescbc, custom Widgets with secretbox): every object the live export writes comes out of the snapshot as the same
// bytes, applies into a fresh cluster as the same object, and a deleted Secret comes back through `twinsnap apply`.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { promisify } from "node:util";
import { startControlPlane, type ControlPlane } from "../support/control-plane.js";
import { populateCorpus } from "../support/corpus.js";
import { REPO_ROOT } from "../support/fixtures.js";
import { kubectl, testCluster, type TestCluster } from "../support/test-clusters.js";

const run = promisify(execFile);
const TWINSNAP = join(REPO_ROOT, "bin", "twinsnap.js");

async function twinsnap(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(TWINSNAP, args, { maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

function tree(dir: string): Map<string, string> {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  return new Map(files.map((e) => [relative(dir, join(e.parentPath, e.name)), readFileSync(join(e.parentPath, e.name), "utf8")]));
}

/** cluster/<gr>/<name>.yaml or namespaces/<ns>/<gr>/<name>.yaml -> the snapshot get arguments. */
function getArgs(path: string): string[] {
  const parts = path.replace(/\.yaml$/, "").split("/");
  return parts[0] === "cluster" ? [parts[1]!, parts[2]!] : [parts[2]!, `${parts[1]}/${parts[3]}`];
}

describe("snapshot get: objects out of an etcd snapshot of a real apiserver with encryption at rest", function () {
  this.timeout(600_000);
  const work = mkdtempSync(join(tmpdir(), "twinsnap-snapshot-get-"));
  const encryptionConfig = join(work, "encryption.yaml");
  let source: ControlPlane;
  let target: TestCluster;
  let snapshotFile: string;

  before(async () => {
    writeFileSync(
      encryptionConfig,
      [
        "apiVersion: apiserver.config.k8s.io/v1",
        "kind: EncryptionConfiguration",
        "resources:",
        "  - resources: [secrets]",
        "    providers:",
        `      - aescbc: { keys: [{ name: key1, secret: ${randomBytes(32).toString("base64")} }] }`,
        "      - identity: {}",
        "  - resources: [widgets.example.com]",
        "    providers:",
        `      - secretbox: { keys: [{ name: box1, secret: ${randomBytes(32).toString("base64")} }] }`,
        "      - identity: {}",
        "",
      ].join("\n"),
    );
    [source, target] = await Promise.all([startControlPlane({ name: "snapshot-source", withControllerManager: true, encryptionProviderConfig: encryptionConfig }), testCluster("snapshot-target")]);
    await populateCorpus({ kubectl: (args) => kubectl(source.kubeconfigPath, args) });
    const exported = await twinsnap(["export", "--kubeconfig", source.kubeconfigPath, "--out", join(work, "live")]);
    assert.equal(exported.code, 0, exported.stderr);
    const snap = await twinsnap(["etcd", "snapshot", "--endpoints", source.etcdEndpoint, "--store", `file://${join(work, "store")}`, "--name", "before"]);
    assert.equal(snap.code, 0, snap.stderr);
    snapshotFile = join(work, "store", "snapshots", "before.db.zst");
  });
  after(async () => {
    await source?.stop();
    // It holds a snapshot with every Secret and the encryption keys.
    rmSync(work, { recursive: true, force: true });
  });

  it("the Secret is encrypted in etcd: without the key it is reported with its provider, and nothing is printed", async () => {
    const got = await twinsnap(["snapshot", "get", "--snapshot", snapshotFile, "secrets", "ci/builder-long-lived"]);
    assert.equal(got.code, 1);
    assert.equal(got.stdout, "");
    assert.match(got.stderr, /secrets ci\/builder-long-lived: encrypted at rest \(aescbc key "key1"\); give --encryption-config FILE/);
  });

  it("every object of the live export comes out of the snapshot as the same bytes", async () => {
    const live = tree(join(work, "live"));
    assert.ok(live.size > 40, `the corpus exports ${live.size} objects`);
    const kinds = new Set([...live.keys()].map((p) => p.split("/").at(-2)));
    for (const needed of ["secrets", "widgets.example.com", "gadgets.example.com", "deployments.apps", "customresourcedefinitions.apiextensions.k8s.io", "clusterrolebindings.rbac.authorization.k8s.io", "services", "persistentvolumes"]) {
      assert.ok(kinds.has(needed), `${needed} among ${[...kinds].join(", ")}`);
    }
    const mismatches: string[] = [];
    for (const [path, text] of live) {
      const got = await twinsnap(["snapshot", "get", "--snapshot", snapshotFile, "--encryption-config", encryptionConfig, ...getArgs(path)]);
      assert.equal(got.code, 0, `${path}: ${got.stderr}`);
      const out = join(work, "from-snapshot", path);
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, got.stdout);
      if (got.stdout !== text) mismatches.push(`${path}\n--- live export\n${text}--- snapshot get\n${got.stdout}`);
    }
    assert.deepEqual(mismatches, []);
  });

  it("applied into a fresh cluster, the objects from the snapshot export as the live cluster's do", async () => {
    const applied = await twinsnap(["apply", "--kubeconfig", target.kubeconfigPath, join(work, "from-snapshot")]);
    assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
    const back = await twinsnap(["export", "--kubeconfig", target.kubeconfigPath, "--out", join(work, "target")]);
    assert.equal(back.code, 0, back.stderr);
    const live = tree(join(work, "live"));
    const after = tree(join(work, "target"));
    assert.deepEqual([...after.keys()].sort(), [...live.keys()].sort());
    for (const [file, text] of live) assert.equal(after.get(file), text, `${file} differs`);
  });

  it("a deleted Secret comes back from the snapshot through twinsnap apply", async () => {
    const before = JSON.parse(await kubectl(source.kubeconfigPath, ["get", "secret", "-n", "ci", "builder-long-lived", "-o", "json"]));
    await kubectl(source.kubeconfigPath, ["delete", "secret", "-n", "ci", "builder-long-lived"]);
    const got = await twinsnap(["snapshot", "get", "--snapshot", snapshotFile, "--encryption-config", encryptionConfig, "secret", "ci/builder-long-lived"]);
    assert.equal(got.code, 0, got.stderr);
    const file = join(work, "restored-secret.yaml");
    writeFileSync(file, got.stdout);
    const applied = await twinsnap(["apply", "--kubeconfig", source.kubeconfigPath, file]);
    assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
    assert.match(applied.stdout, /^1 created/);
    const after = JSON.parse(await kubectl(source.kubeconfigPath, ["get", "secret", "-n", "ci", "builder-long-lived", "-o", "json"]));
    assert.deepEqual(after.data, before.data);
    assert.deepEqual(after.type, before.type);
    assert.notEqual(after.metadata.uid, before.metadata.uid, "a new object with the old content");
  });

  it("every object of a namespace at once, and a typed error for what is not there", async () => {
    const all = await twinsnap(["snapshot", "get", "--snapshot", snapshotFile, "--encryption-config", encryptionConfig, "-n", "shop", "-o", "json"]);
    assert.equal(all.code, 0, all.stderr);
    const list = JSON.parse(all.stdout) as { items: { kind: string; metadata: { namespace: string } }[] };
    assert.ok(list.items.length > 10);
    assert.ok(list.items.every((o) => o.metadata.namespace === "shop"));
    assert.ok(list.items.some((o) => o.kind === "Widget") && list.items.some((o) => o.kind === "Deployment"));
    const missing = await twinsnap(["snapshot", "get", "--snapshot", snapshotFile, "configmaps", "shop/no-such-thing"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no configmaps in namespace shop named no-such-thing/);
    const notASnapshot = await twinsnap(["snapshot", "get", "--snapshot", encryptionConfig, "configmaps"]);
    assert.equal(notASnapshot.code, 1);
    assert.match(notASnapshot.stderr, /not a readable bbolt/);
  });
});
