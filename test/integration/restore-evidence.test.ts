// The destructive path needs evidence and consent. `twinsnap restore plan` (the CLI process) against a real
// apiserver with the mistakes operators make — a kubeconfig that is not there, a context that does not exist, a CA
// that does not fit, wrong credentials, a server that does not answer while the backed-up cluster does: none of
// them is taken for a lost control plane. Two `restore run`s of one backup: the second is refused, naming the
// first. And the client reaches apiservers the way kubectl does: an IPv6 loopback address, an HTTP CONNECT proxy.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadClusterConnection } from "../../src/kube/kubeconfig.js";
import { rawClient } from "../../src/kube/raw-client.js";
import { freePort, startControlPlane } from "../support/control-plane.js";
import { REPO_ROOT } from "../support/fixtures.js";
import { peer } from "../support/peers.js";
import { connectProxy, stallingProxy } from "../support/tcp-proxies.js";
import { testCluster, type TestCluster } from "../support/test-clusters.js";

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function twinsnap(args: string[], env: Record<string, string> = {}): { child: ReturnType<typeof spawn>; stderr: () => string; done: Promise<Result> } {
  const child = spawn(join(REPO_ROOT, "bin", "twinsnap.js"), args, { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH!, HOME: mkdtempSync(join(tmpdir(), "twinsnap-home-")), ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  return { child, stderr: () => stderr, done: new Promise((resolve) => child.once("exit", (code) => resolve({ code, stdout, stderr }))) };
}

describe("restore plan and run: evidence before the destructive path (real apiserver)", function () {
  this.timeout(180_000);
  let cluster: TestCluster;
  let server: string;
  let identity: string;
  const work = mkdtempSync(join(tmpdir(), "twinsnap-i14-evidence-"));
  const store = join(work, "store");
  const kubeconfigText = () => readFileSync(cluster.kubeconfigPath, "utf8");
  const writeKubeconfig = (name: string, text: string) => {
    const path = join(work, name);
    writeFileSync(path, text);
    return path;
  };
  const pair = (name: string, uid: string, clusterIdentity: string, apiserverEndpoints?: string[]) => {
    mkdirSync(join(store, "pairs"), { recursive: true });
    writeFileSync(
      join(store, "pairs", `${uid}.json`),
      JSON.stringify({
        apiVersion: "twinsnap.dev/v1alpha1",
        kind: "PairRecord",
        backup: { name, namespace: "i14-restore", uid, phase: "Completed" },
        state: "Paired",
        clusterIdentity,
        ...(apiserverEndpoints ? { apiserverEndpoints } : {}),
        snapshot: { store: `file://${store}`, key: `snapshots/${uid}.db.gz`, compression: "gzip", revision: "4242", clusterId: "1", memberId: "1", etcdVersion: "3.6.16", dbSizeBytes: 1, snapshotBytes: 1, snapshotSha256: "00", storedBytes: 1, storedSha256: "00", startedAt: "2026-11-24T00:00:00Z", finishedAt: "2026-11-24T00:00:01Z" },
        coordinatorVersion: "test",
        updatedAt: "2026-11-24T00:00:00Z",
      }),
    );
  };
  const plan = (backup: string, kubeconfig: string, extra: string[] = []) => twinsnap(["restore", "plan", "--backup", backup, "--store", `file://${store}`, "--kubeconfig", kubeconfig, "--velero-namespace", "i14-restore", ...extra]).done;

  before(async () => {
    cluster = await testCluster("source", { withControllerManager: true });
    server = cluster.controlPlane?.server ?? (await loadClusterConnection({ env: {}, kubeconfigPath: cluster.kubeconfigPath })).server;
    identity = JSON.parse(await cluster.kubectl(["get", "namespace", "kube-system", "-o", "json"])).metadata.uid;
    // The backed-up cluster is this one, alive at its recorded endpoint.
    pair("alive", "aaaaaaaa-0000-0000-0000-000000000001", identity, [server]);
  });

  it("a kubeconfig that is not there: the plan says so and stops; it never picks the same-cluster path", async () => {
    const r = await plan("alive", join(work, "nonexistent"));
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^Path: none chosen/m);
    assert.match(r.stdout, /^Why: the cluster could not be identified: cannot read kubeconfig .*nonexistent.*not evidence that its control plane is lost/m);
    assert.doesNotMatch(r.stdout + r.stderr, /same cluster —|etcd restore|use --mode new-cluster"?$/m);
    const forced = await plan("alive", join(work, "nonexistent"), ["--mode", "new-cluster"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /^Path: new cluster/m);
    assert.doesNotMatch(forced.stderr, /if this is a different cluster/, "no advice to do what was just done");
  });

  it("a context that does not exist, a CA that does not fit, and wrong credentials: each named, none taken for a lost cluster", async () => {
    const wrongContext = await plan("alive", cluster.kubeconfigPath, ["--context", "prod-typo"]);
    assert.equal(wrongContext.code, 1);
    assert.match(wrongContext.stdout, /context "prod-typo" is not defined \(it defines /);
    // Without insecure-skip-tls-verify the apiserver's self-signed certificate is not trusted.
    const tls = await plan("alive", writeKubeconfig("tls.yaml", kubeconfigText().replace(/^\s*insecure-skip-tls-verify: true\n/m, "")));
    assert.equal(tls.code, 1, tls.stdout + tls.stderr);
    assert.match(tls.stdout, /^Why: the cluster could not be identified: TLS with the apiserver failed/m);
    const token = await plan("alive", writeKubeconfig("token.yaml", kubeconfigText().replace(/token: .*/, "token: not-the-token")));
    assert.equal(token.code, 1);
    assert.match(token.stdout, /the apiserver refuses the kubeconfig's credentials/);
    for (const r of [wrongContext, tls, token]) assert.match(r.stdout, /^Path: none chosen/m);
  });

  it("a kubeconfig server that does not answer while the backed-up cluster does: check the kubeconfig; both dead: same cluster, with consent", async () => {
    const dead = `https://127.0.0.1:${await freePort()}`;
    const typo = writeKubeconfig("typo.yaml", kubeconfigText().replace(server, dead));
    const r = await plan("alive", typo);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /the kubeconfig's apiserver does not answer .* but the backed-up cluster's apiserver does \(https:\/\/127\.0\.0\.1:\d+ accepts connections\): check the kubeconfig/);

    pair("lost", "aaaaaaaa-0000-0000-0000-000000000002", "the-lost-cluster", [dead]);
    const lost = await plan("lost", typo);
    assert.equal(lost.code, 0, lost.stdout + lost.stderr);
    assert.match(lost.stdout, /^Path: same cluster/m);
    assert.match(lost.stdout, /^Why: the backed-up cluster's apiserver does not answer \(https:\/\/127\.0\.0\.1:\d+ refuses connections\)/m);
    const run = await twinsnap(["restore", "run", "--backup", "lost", "--store", `file://${store}`, "--kubeconfig", typo, "--name", "m1", "--initial-advertise-peer-urls", "https://127.0.0.1:2380"]).done;
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--confirm-same-cluster/);

    pair("unrecorded", "aaaaaaaa-0000-0000-0000-000000000003", "the-lost-cluster");
    const unrecorded = await plan("unrecorded", typo);
    assert.equal(unrecorded.code, 1);
    assert.match(unrecorded.stdout, /the pair records no apiserver endpoint to confirm .*--mode same-cluster if you know/);
  });

  it("two restore runs of one backup: the second is refused with who holds it; after the first stops, a run may start", async () => {
    writeFileSync(join(work, "velero-crds.yaml"), execFileSync(peer("VELERO_BIN"), ["install", "--crds-only", "--dry-run", "-o", "yaml"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }));
    await cluster.kubectl(["apply", "-f", join(work, "velero-crds.yaml")]);
    await cluster.kubectl(["create", "namespace", "i14-restore"]).catch(() => undefined);
    pair("migrate-me", "aaaaaaaa-0000-0000-0000-000000000004", "another-cluster");
    const args = ["restore", "run", "--backup", "migrate-me", "--store", `file://${store}`, "--kubeconfig", cluster.kubeconfigPath, "--velero-namespace", "i14-restore", "--timeout", "2m"];
    const first = twinsnap(args);
    // The first run waits for Velero to list the backup (it never will here): it holds the lock meanwhile.
    for (let i = 0; i < 150 && !/waiting for Velero to list backup migrate-me/.test(first.stderr()); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(first.stderr(), /waiting for Velero to list backup migrate-me/);
    const second = await twinsnap(args).done;
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`another restore run of this backup is under way: \\S+@\\S+ pid ${first.child.pid} \\(run [0-9a-f]+\\) since .*restores/aaaaaaaa-0000-0000-0000-000000000004.lock expires at`));
    first.child.kill("SIGTERM");
    const stopped = await first.done;
    assert.equal(stopped.code, 143);
    assert.match(stopped.stderr, /restore run interrupted \(SIGTERM\); rerun the same command to resume/);
    const third = twinsnap(args);
    for (let i = 0; i < 150 && !/waiting for Velero to list backup migrate-me/.test(third.stderr()) && third.child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(third.stderr(), /waiting for Velero to list backup migrate-me/, "the lock was given back on SIGTERM");
    third.child.kill("SIGTERM");
    await third.done;
  });

  it("reaches an apiserver at an IPv6 loopback address (https://[::1]:port)", async () => {
    const port = Number(new URL(server).port);
    const v6 = await stallingProxy({ host: "127.0.0.1", port }, "::1");
    const connection = await loadClusterConnection({ env: {}, kubeconfigPath: writeKubeconfig("v6.yaml", kubeconfigText().replace(server, `https://[::1]:${v6.port}`)) });
    const client = rawClient(connection);
    try {
      const ns = await client.get<{ metadata: { uid: string } }>("/api/v1/namespaces/kube-system");
      assert.equal(ns?.metadata.uid, identity);
    } finally {
      client.close();
      await v6.close();
    }
  });

  it("reaches an apiserver that listens on the IPv6 loopback only (--bind-address ::1)", async function () {
    this.timeout(180_000);
    const v6 = await startControlPlane({ name: "i14-ipv6", bindAddress: "::1" });
    try {
      assert.match(v6.server, /^https:\/\/\[::1\]:\d+$/);
      const client = rawClient(await loadClusterConnection({ env: {}, kubeconfigPath: v6.kubeconfigPath }));
      try {
        const ns = await client.get<{ metadata: { uid: string } }>("/api/v1/namespaces/kube-system");
        assert.match(ns?.metadata.uid ?? "", /^[0-9a-f-]{36}$/);
      } finally {
        client.close();
      }
      // And the CLI: a plan identifies it (another cluster than the pair's: the new-cluster path).
      const r = await plan("alive", v6.kubeconfigPath);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^Path: new cluster/m);
    } finally {
      await v6.stop();
    }
  });

  it("goes through an HTTP CONNECT proxy named by the kubeconfig's proxy-url, for requests and watches", async () => {
    const proxy = await connectProxy();
    const text = kubeconfigText().replace(/^(\s*)server: (.*)$/m, `$1server: $2\n$1proxy-url: ${proxy.url}`);
    const client = rawClient(await loadClusterConnection({ env: {}, kubeconfigPath: writeKubeconfig("proxied.yaml", text) }));
    const abort = new AbortController();
    try {
      assert.equal((await client.get<{ metadata: { uid: string } }>("/api/v1/namespaces/kube-system"))?.metadata.uid, identity);
      const events = client.watch<{ type: string; object: { metadata: { name: string } } }>("/api/v1/namespaces?watch=1&fieldSelector=metadata.name%3Dkube-system", abort.signal);
      assert.equal((await events.next()).value?.object.metadata.name, "kube-system");
      abort.abort();
      assert.ok(proxy.tunnels.length >= 2, `a tunnel for the client and one for the watch: ${proxy.tunnels.join(", ")}`);
      assert.ok(proxy.tunnels.every((t) => t === new URL(server).host));
      // The CLI too: a plan through the proxy identifies the cluster.
      const r = await plan("alive", join(work, "proxied.yaml"), ["--mode", "new-cluster"]);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      client.close();
      await proxy.close();
    }
  });
});
