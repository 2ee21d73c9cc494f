// Benchmark: `twinsnap apply` and `twinsnap export` on a few thousand objects against a local kube-apiserver,
// side by side with `kubectl apply -f` and `kubectl get -o yaml` doing the same work in the same run.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { toYaml } from "../src/manifest/yaml.js";
import { startControlPlane } from "../test/support/control-plane.js";
import { REPO_ROOT } from "../test/support/fixtures.js";
import { peer } from "../test/support/peers.js";
import { syntheticObjects } from "./synthetic.js";

const run = promisify(execFile);

async function timed(cmd: string, args: string[]): Promise<number> {
  const t = process.hrtime.bigint();
  await run(cmd, args, { maxBuffer: 1024 * 1024 * 1024 });
  return Math.round(Number(process.hrtime.bigint() - t) / 1e6);
}

export async function benchExportApply(count = 3000) {
  const cp = await startControlPlane({ name: "bench" });
  const work = mkdtempSync(join(tmpdir(), "twinsnap-bench-"));
  const twinsnap = join(REPO_ROOT, "bin", "twinsnap.js");
  const kubectl = peer("KUBECTL_BIN");
  const kc = ["--kubeconfig", cp.kubeconfigPath];
  try {
    // The same objects twice, in different namespaces: one copy for kubectl, one for twinsnap.
    const write = (prefix: string) => {
      const dir = join(work, prefix);
      mkdirSync(dir);
      syntheticObjects(count, { namespacePrefix: prefix, crds: false }).forEach((o, i) => writeFileSync(join(dir, `${String(i).padStart(6, "0")}.yaml`), toYaml(o)));
      return dir;
    };
    const forKubectl = write("kubectl");
    const forTwinsnap = write("twinsnap");
    // kubectl cannot order a directory by dependency: give it namespaces first, as a person would.
    await run(kubectl, [...kc, "apply", "-f", join(forKubectl, "000000.yaml")]);
    const kubectlApplyMs = await timed(kubectl, [...kc, "apply", "-R", "-f", forKubectl]);
    const twinsnapApplyMs = await timed(twinsnap, ["apply", ...kc, forTwinsnap]);

    const resources = (await run(kubectl, [...kc, "api-resources", "--verbs=list", "-o", "name"])).stdout.trim().split("\n").join(",");
    const kubectlExportMs = await timed("sh", ["-c", `${kubectl} --kubeconfig ${cp.kubeconfigPath} get ${resources} -A -o yaml > ${join(work, "kubectl-export.yaml")}`]);
    const twinsnapExportMs = await timed(twinsnap, ["export", ...kc, "--out", join(work, "export")]);
    const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
    return {
      name: "export-apply",
      objectsPerSide: count,
      apply: { twinsnapMs: twinsnapApplyMs, kubectlMs: kubectlApplyMs, ratio: ratio(twinsnapApplyMs, kubectlApplyMs), note: "twinsnap: server-side apply, 8 at a time, dependency order; kubectl: client-side apply, one by one" },
      export: { twinsnapMs: twinsnapExportMs, kubectlMs: kubectlExportMs, ratio: ratio(twinsnapExportMs, kubectlExportMs), note: "whole cluster; twinsnap writes one stripped file per object, kubectl one YAML stream" },
    };
  } finally {
    await cp.stop();
  }
}
