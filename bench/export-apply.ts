// Benchmark: `twinsnap apply` and `twinsnap export` on a few thousand objects against a local kube-apiserver,
// side by side with `kubectl apply -f` and `kubectl get -o yaml` doing the same work in the same run.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { toYaml } from "../src/manifest/yaml.js";
import { startControlPlane } from "../test/support/control-plane.js";
import { PLUGIN_FORMS } from "../test/support/fixtures.js";
import { peer } from "../test/support/peers.js";
import { syntheticObjects } from "./synthetic.js";

const run = promisify(execFile);

async function timed(cmd: string, args: string[]): Promise<number> {
  const t = process.hrtime.bigint();
  await run(cmd, args, { maxBuffer: 1024 * 1024 * 1024 });
  return Math.round(Number(process.hrtime.bigint() - t) / 1e6);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round2 = (x: number) => Math.round(x * 100) / 100;

/** Rounds alternate which side goes first, so a change of load on this shared machine falls on both alike. */
export async function benchExportApply(count = 3000, rounds = Number(process.env.TWINSNAP_BENCH_ROUNDS ?? "3")) {
  const cp = await startControlPlane({ name: "bench" });
  const work = mkdtempSync(join(tmpdir(), "twinsnap-bench-"));
  // The single executable, as users install it (its code cache and V8 flags are part of what they run).
  const twinsnap = PLUGIN_FORMS.executable;
  const kubectl = peer("KUBECTL_BIN");
  const kc = ["--kubeconfig", cp.kubeconfigPath];
  try {
    // The same objects for each side and round, in namespaces of their own: every apply creates its objects.
    const write = (prefix: string) => {
      const dir = join(work, prefix);
      mkdirSync(dir);
      syntheticObjects(count, { namespacePrefix: prefix, crds: false }).forEach((o, i) => writeFileSync(join(dir, `${String(i).padStart(6, "0")}.yaml`), toYaml(o)));
      return dir;
    };
    const applies: { round: number; kubectlMs: number; twinsnapMs: number; loadAverage: number[] }[] = [];
    for (let r = 0; r < rounds; r++) {
      const forKubectl = write(`kubectl${r}`);
      const forTwinsnap = write(`twinsnap${r}`);
      // kubectl cannot order a directory by dependency: give it namespaces first, as a person would.
      await run(kubectl, [...kc, "apply", "-f", join(forKubectl, "000000.yaml")]);
      const loadAverage = loadavg().map(round2);
      const sides = [
        async () => ({ kubectlMs: await timed(kubectl, [...kc, "apply", "-R", "-f", forKubectl]) }),
        async () => ({ twinsnapMs: await timed(twinsnap, ["apply", ...kc, forTwinsnap]) }),
      ];
      const results = [];
      for (const side of r % 2 === 0 ? sides : [...sides].reverse()) results.push(await side());
      applies.push({ round: r, ...(Object.assign({}, ...results) as { kubectlMs: number; twinsnapMs: number }), loadAverage });
    }

    const resources = (await run(kubectl, [...kc, "api-resources", "--verbs=list", "-o", "name"])).stdout.trim().split("\n").join(",");
    const exports: { round: number; kubectlMs: number; twinsnapMs: number }[] = [];
    for (let r = 0; r < rounds; r++) {
      const sides = [
        async () => ({ kubectlMs: await timed("sh", ["-c", `${kubectl} --kubeconfig ${cp.kubeconfigPath} get ${resources} -A -o yaml > ${join(work, `kubectl-export-${r}.yaml`)}`]) }),
        async () => ({ twinsnapMs: await timed(twinsnap, ["export", ...kc, "--out", join(work, `export-${r}`)]) }),
      ];
      const results = [];
      for (const side of r % 2 === 0 ? sides : [...sides].reverse()) results.push(await side());
      exports.push({ round: r, ...(Object.assign({}, ...results) as { kubectlMs: number; twinsnapMs: number }) });
    }
    const summary = (rs: { kubectlMs: number; twinsnapMs: number }[]) => {
      const twinsnapMs = median(rs.map((x) => x.twinsnapMs));
      const kubectlMs = median(rs.map((x) => x.kubectlMs));
      return { twinsnapMs, kubectlMs, ratio: round2(twinsnapMs / kubectlMs), kubectlOverTwinsnap: round2(kubectlMs / twinsnapMs) };
    };
    return {
      name: "export-apply",
      objectsPerSide: count,
      twinsnap: "single executable (dist/executable/twinsnap)",
      rounds,
      summary: "medians of the rounds",
      apply: { ...summary(applies), note: "twinsnap: server-side apply, 16 at a time, dependency order, no reads inside namespaces it creates; kubectl: client-side apply, one by one", runs: applies },
      export: { ...summary(exports), note: `whole cluster (${rounds * 2 * count} objects once every apply is done); twinsnap writes one stripped file per object, kubectl one YAML stream`, runs: exports },
    };
  } finally {
    await cp.stop();
  }
}
