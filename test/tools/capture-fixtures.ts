// Regenerates test/fixtures/items/*.json from a real kube-apiserver (with kube-controller-manager), so the
// plugin's conformance tests run on objects exactly as an apiserver returns them. Run: npm run fixtures:capture
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../support/fixtures.js";
import { startControlPlane } from "../support/control-plane.js";
import { kubectl } from "../support/test-clusters.js";

const ITEMS = join(REPO_ROOT, "test", "fixtures", "items");
const CAPTURE = join(REPO_ROOT, "test", "fixtures", "capture");

/** fixture name -> kubectl get arguments */
const CAPTURED: Record<string, string[]> = {
  deployment: ["-n", "shop", "deployment/web"],
  "service-clusterip": ["-n", "shop", "service/web"],
  "service-nodeport": ["-n", "shop", "service/admin"],
  "service-loadbalancer": ["-n", "shop", "service/edge"],
  "service-headless": ["-n", "shop", "service/db"],
  "service-externalname": ["-n", "shop", "service/payments"],
  "pv-bound": ["persistentvolume/pvc-0b5c8f3e-2f7a-4d1e-8a6b-3c9d2e1f0a4b"],
  "pvc-bound": ["-n", "shop", "persistentvolumeclaim/data"],
  "pod-with-token": ["-n", "shop", "pod/web-7d4b9c-x2k9p"],
  job: ["-n", "shop", "job/migrate-schema"],
  crd: ["customresourcedefinition/widgets.example.com"],
  "cr-widget": ["-n", "shop", "widgets.example.com/blue"],
  "secret-sa-token-generated": ["-n", "ci", "secret/builder-token-x9f2k"],
};

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 120; i++) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const cp = await startControlPlane({ name: "capture", withControllerManager: true });
const k = (args: string[]) => kubectl(cp.kubeconfigPath, args);
try {
  // kubectl applies in file order: namespaces and service accounts exist before the Pod is admitted.
  await k(["apply", "-f", join(CAPTURE, "objects.yaml")]);
  await k(["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=60s"]);
  await k(["apply", "-f", join(CAPTURE, "custom-resources.yaml")]);
  await k(["patch", "widgets.example.com", "blue", "-n", "shop", "--subresource=status", "--type=merge", "-p", '{"status":{"observedGeneration":1,"ready":true}}']);
  await k(["patch", "service", "edge", "-n", "shop", "--subresource=status", "--type=merge", "-p", '{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.10","ipMode":"VIP"}]}}}']);
  await until("the claim to bind", async () => (await k(["get", "pvc", "data", "-n", "shop", "-o", "jsonpath={.status.phase}"])) === "Bound");
  await until("the token controller", async () => (await k(["get", "secret", "builder-token-x9f2k", "-n", "ci", "-o", "jsonpath={.data.token}"])).length > 0);
  await until("the deployment's revision", async () => (await k(["get", "deployment", "web", "-n", "shop", "-o", "jsonpath={.metadata.annotations}"])).includes("revision"));
  for (const [name, args] of Object.entries(CAPTURED)) {
    const json = JSON.parse(await k(["get", ...args, "-o", "json"]));
    writeFileSync(join(ITEMS, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`);
    process.stdout.write(`captured ${name}\n`);
  }
} finally {
  await cp.stop();
}
