// The realistic corpus (test/fixtures/corpus), created the way a user would with kubectl: CRDs first, since
// kubectl cannot apply custom resources in the same run as their CRDs. Idempotent.
import { join } from "node:path";
import { REPO_ROOT } from "./fixtures.js";
import type { TestCluster } from "./test-clusters.js";

export const CORPUS_DIR = join(REPO_ROOT, "test", "fixtures", "corpus");

export async function populateCorpus(cluster: TestCluster): Promise<void> {
  await cluster.kubectl(["apply", "-f", join(CORPUS_DIR, "00-crds.yaml")]);
  await cluster.kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd/widgets.example.com", "crd/gadgets.example.com"]);
  for (const f of ["10-cluster.yaml", "20-shop.yaml", "30-ci-and-custom.yaml"]) await cluster.kubectl(["apply", "-f", join(CORPUS_DIR, f)]);
}
