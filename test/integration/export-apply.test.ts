// Export a realistic cluster, apply the export to a fresh apiserver in one pass, and find every object there
// with its spec intact: the new-cluster migration path, on real apiservers.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "../support/fixtures.js";
import { testCluster, type TestCluster } from "../support/test-clusters.js";
import { populateCorpus } from "../support/corpus.js";
import { freePort } from "../support/control-plane.js";

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


describe("export from a live cluster and apply to a fresh one", function () {
  this.timeout(300_000);
  let source: TestCluster;
  let target: TestCluster;
  const work = mkdtempSync(join(tmpdir(), "twinsnap-migrate-"));

  before(async () => {
    [source, target] = await Promise.all([testCluster("source", { withControllerManager: true }), testCluster("fresh-target")]);
    await populateCorpus(source);
  });

  it("exports the corpus as one clean file per object, and the same bytes twice", async () => {
    const first = await twinsnap(["export", "--kubeconfig", source.kubeconfigPath, "--out", join(work, "export-1")]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /exported \d+ objects/);
    const second = await twinsnap(["export", "--kubeconfig", source.kubeconfigPath, "--out", join(work, "export-2")]);
    assert.equal(second.code, 0, second.stderr);
    const a = tree(join(work, "export-1"));
    for (const expected of [
      "cluster/customresourcedefinitions.apiextensions.k8s.io/widgets.example.com.yaml",
      "cluster/gadgets.example.com/sprocket.yaml",
      "namespaces/shop/widgets.example.com/blue.yaml",
      "namespaces/shop/deployments.apps/web.yaml",
      "namespaces/shop/services/edge.yaml",
      "namespaces/shop/ingresses.networking.k8s.io/shop.yaml",
      "namespaces/shop/persistentvolumeclaims/data.yaml",
      "cluster/persistentvolumes/shop-data.yaml",
      "cluster/clusterrolebindings.rbac.authorization.k8s.io/builder-reads-widgets.yaml",
      "namespaces/ci/secrets/builder-long-lived.yaml",
    ]) {
      assert.ok(a.has(expected), `${expected} missing from ${[...a.keys()].join(", ")}`);
    }
    assert.ok(![...a.keys()].some((k) => k.includes("replicasets") || k.includes("endpointslices") || k.startsWith("namespaces/kube-system")), "generated objects are left out");
    assert.deepEqual(tree(join(work, "export-2")), a, "same cluster, same bytes");
    const deployment = a.get("namespaces/shop/deployments.apps/web.yaml")!;
    for (const runtime of ["resourceVersion", "uid:", "managedFields", "creationTimestamp: '", "status:"]) assert.ok(!deployment.includes(runtime), `${runtime} in\n${deployment}`);
  });

  it("applies the export to a fresh apiserver in one pass, and every object is there with its spec", async () => {
    const applied = await twinsnap(["apply", "--kubeconfig", target.kubeconfigPath, join(work, "export-1")]);
    assert.equal(applied.code, 0, `${applied.stdout}\n${applied.stderr}`);
    assert.match(applied.stdout, /^\d+ created, 0 configured, 0 unchanged, 0 failed, 0 not attempted/);
    const back = await twinsnap(["export", "--kubeconfig", target.kubeconfigPath, "--out", join(work, "from-target")]);
    assert.equal(back.code, 0, back.stderr);
    const before = tree(join(work, "export-1"));
    const after = tree(join(work, "from-target"));
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
    for (const [file, text] of before) assert.equal(after.get(file), text, `${file} differs after the round trip`);
  });

  it("applying again configures nothing", async () => {
    const again = await twinsnap(["apply", "--kubeconfig", target.kubeconfigPath, join(work, "export-1")]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^0 created, 0 configured, \d+ unchanged, 0 failed/);
    // The same, as a script reads it.
    const json = await twinsnap(["apply", "--kubeconfig", target.kubeconfigPath, "-o", "json", join(work, "export-1")]);
    assert.equal(json.code, 0, json.stderr);
    const summary = JSON.parse(json.stdout) as { counts: Record<string, number>; cycles: string[][]; outcomes: { key: string; action: string }[] };
    assert.deepEqual({ ...summary.counts, unchanged: 0 }, { created: 0, configured: 0, unchanged: 0, failed: 0, "not-attempted": 0 });
    assert.ok(summary.counts.unchanged! > 0 && summary.outcomes.every((o) => o.action === "unchanged"), json.stdout.slice(0, 400));
  });

  it("one file with a CRD and its resources: kubectl apply fails, twinsnap apply succeeds on the first try", async () => {
    const file = (group: string) => {
      const path = join(work, `${group}.yaml`);
      const thing = `apiVersion: ${group}/v1\nkind: Thing\nmetadata: { name: one, namespace: default }\nspec: { n: 1 }`;
      const crd = [
        "apiVersion: apiextensions.k8s.io/v1",
        "kind: CustomResourceDefinition",
        `metadata: { name: things.${group} }`,
        "spec:",
        `  group: ${group}`,
        "  scope: Namespaced",
        "  names: { kind: Thing, plural: things, singular: thing, listKind: ThingList }",
        "  versions:",
        "    - name: v1",
        "      served: true",
        "      storage: true",
        "      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }",
      ].join("\n");
      writeFileSync(path, `${thing}\n---\n${crd}\n`);
      return path;
    };
    await assert.rejects(target.kubectl(["apply", "-f", file("kubectl.example.org")]), /ensure CRDs are installed first|no matches for kind/);
    const result = await twinsnap(["apply", "--kubeconfig", target.kubeconfigPath, file("twinsnap.example.org")]);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /^2 created/);
    assert.match(await target.kubectl(["get", "things.twinsnap.example.org", "one", "-n", "default", "-o", "name"]), /thing/);
  });

  it("a failed object is reported with the apiserver's reason and a non-zero exit", async () => {
    const path = join(work, "bad.yaml");
    writeFileSync(path, "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: bad, namespace: missing-namespace }\ndata: { a: b }\n");
    const result = await twinsnap(["apply", "--kubeconfig", target.kubeconfigPath, path]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /failed: ConfigMap missing-namespace\/bad: .*namespaces? "missing-namespace" not found/);
  });
  it("fail-closed webhooks whose backend is down: every object they guard is applied first, then the webhooks", async () => {
    // The backend: a loopback port nobody listens on (its Pods are not up yet in the new cluster).
    const dead = `https://127.0.0.1:${await freePort()}`;
    const hook = (kind: string, name: string) =>
      `apiVersion: admissionregistration.k8s.io/v1\nkind: ${kind}\nmetadata: { name: ${name} }\nwebhooks:\n` +
      `  - name: ${name}\n    admissionReviewVersions: [v1]\n    sideEffects: None\n    failurePolicy: Fail\n` +
      `    namespaceSelector: { matchLabels: { guard.example.com/enforce: "true" } }\n    clientConfig: { url: "${dead}/${kind}" }\n` +
      `    rules: [{ apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [configmaps, services] }]\n`;
    const objects = [
      hook("ValidatingWebhookConfiguration", "guard.apply.example.com"),
      hook("MutatingWebhookConfiguration", "defaults.apply.example.com"),
      "apiVersion: v1\nkind: Namespace\nmetadata: { name: guarded-apply, labels: { guard.example.com/enforce: \"true\" } }\n",
      ...Array.from({ length: 24 }, (_, i) => `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings-${i}, namespace: guarded-apply }\ndata: { a: "${i}" }\n`),
      "apiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: guarded-apply }\nspec: { ports: [{ port: 80 }] }\n",
    ];
    const path = join(work, "guarded.yaml");
    writeFileSync(path, objects.join("---\n"));
    const result = await twinsnap(["apply", "--kubeconfig", target.kubeconfigPath, "--concurrency", "8", path]);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /^28 created/);
    const names = (await target.kubectl(["get", "configmaps", "-n", "guarded-apply", "-o", "name"])).split("\n").filter((l) => l.includes("settings-"));
    assert.equal(names.length, 24);
    // The webhooks are live now and fail closed: the next create in the namespace is refused.
    await assert.rejects(target.kubectl(["create", "configmap", "late", "-n", "guarded-apply"]), /failed calling webhook/);
  });
});
