// `twinsnap export --from-backup`, on tarballs in Velero's layout.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import yaml from "js-yaml";
import { runCli } from "../../src/cli/cli.js";
import { exportFromBackup } from "../../src/cli/export-command.js";
import { fixture } from "../support/fixtures.js";
import { writeVeleroTarball } from "../support/velero-tarball.js";

const ITEMS = [
  { groupResource: "deployments.apps", object: fixture("deployment") },
  { groupResource: "services", object: fixture("service-nodeport") },
  { groupResource: "persistentvolumes", object: fixture("pv-bound") },
  { groupResource: "customresourcedefinitions.apiextensions.k8s.io", object: fixture("crd") },
  { groupResource: "widgets.example.com", object: fixture("cr-widget") },
  { groupResource: "secrets", object: fixture("secret-sa-token-generated") },
];

describe("export from a Velero backup tarball", () => {
  const dir = mkdtempSync(join(tmpdir(), "twinsnap-export-"));
  const tarball = join(dir, "nightly.tar.gz");
  before(() => writeVeleroTarball(tarball, ITEMS));

  it("twinsnap export --from-backup -o json: the summary on stdout for a script, the human line on stderr", async () => {
    let out = "";
    let err = "";
    const code = await runCli(["export", "--from-backup", tarball, "--out", join(dir, "as-json"), "-o", "json"], { out: (s) => void (out += s), err: (s) => void (err += s), env: {}, stdin: async () => "" });
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(out), { exported: 5, skippedByRules: 1, filtered: 0 });
    assert.match(err, /^exported 5 objects to .*as-json \(1 left out by rules, 0 filtered\)\n$/);
  });

  it("writes one clean manifest per object in a readable tree, skipping the versioned copies", async () => {
    const out = join(dir, "tree");
    const summary = await exportFromBackup({ fromBackup: tarball, out, force: false }, () => undefined);
    assert.deepEqual(summary, { exported: 5, skippedByRules: 1, filtered: 0 });
    assert.ok(existsSync(join(out, "namespaces/shop/deployments.apps/web.yaml")));
    assert.ok(existsSync(join(out, "cluster/customresourcedefinitions.apiextensions.k8s.io/widgets.example.com.yaml")));
    assert.ok(existsSync(join(out, "namespaces/shop/widgets.example.com/blue.yaml")));
    assert.ok(!existsSync(join(out, "namespaces/ci")), "the generated token Secret is left out");
    const deployment = yaml.load(readFileSync(join(out, "namespaces/shop/deployments.apps/web.yaml"), "utf8")) as Record<string, any>;
    assert.deepEqual(Object.keys(deployment).slice(0, 3), ["apiVersion", "kind", "metadata"]);
    assert.equal(deployment.metadata.uid, undefined);
    assert.equal(deployment.metadata.managedFields, undefined);
    assert.equal(deployment.status, undefined);
    assert.deepEqual(deployment.spec, fixture("deployment").spec);
  });

  it("gives the same bytes for the same backup", async () => {
    await exportFromBackup({ fromBackup: tarball, out: join(dir, "a"), force: false }, () => undefined);
    await exportFromBackup({ fromBackup: tarball, out: join(dir, "b"), force: false }, () => undefined);
    const file = "namespaces/shop/services/admin.yaml";
    assert.equal(readFileSync(join(dir, "a", file), "utf8"), readFileSync(join(dir, "b", file), "utf8"));
  });

  it("filters namespaces and resources the way Velero does", async () => {
    const summary = await exportFromBackup(
      { fromBackup: tarball, out: join(dir, "filtered"), force: false, includeNamespaces: ["shop"], excludeResources: ["services"] },
      () => undefined,
    );
    assert.equal(summary.filtered, 2, "the Service and the Secret in namespace ci");
    assert.ok(!existsSync(join(dir, "filtered", "namespaces/shop/services")));
    assert.ok(existsSync(join(dir, "filtered", "cluster/persistentvolumes")), "cluster-scoped objects are kept");
  });

  it("refuses to overwrite a non-empty directory without --force", async () => {
    const out = join(dir, "tree-again");
    await exportFromBackup({ fromBackup: tarball, out, force: false }, () => undefined);
    await assert.rejects(exportFromBackup({ fromBackup: tarball, out, force: false }, () => undefined), /not empty.*--force/);
    await exportFromBackup({ fromBackup: tarball, out, force: true }, () => undefined);
  });

  it("a truncated or damaged archive is an error and leaves no partial tree", async () => {
    const whole = readFileSync(tarball);
    const truncated = join(dir, "truncated.tar.gz");
    writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
    const out = join(dir, "never");
    await assert.rejects(exportFromBackup({ fromBackup: truncated, out, force: false }, () => undefined), /damaged or truncated|gzip/);
    assert.ok(!existsSync(out));
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes("partial")), []);

    const corrupt = join(dir, "corrupt.tar.gz");
    await writeVeleroTarball(corrupt, [], [{ name: "resources/pods/namespaces/a/p.json", body: "{oops" }]);
    await assert.rejects(exportFromBackup({ fromBackup: corrupt, out, force: false }, () => undefined), /resources\/pods\/namespaces\/a\/p\.json: not a Kubernetes object/);
    await assert.rejects(exportFromBackup({ fromBackup: join(dir, "missing.tar.gz"), out, force: false }, () => undefined), /ENOENT|no such file/);
  });
});
