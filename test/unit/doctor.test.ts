// `twinsnap doctor` against a plain in-memory Velero: what it reports for each state of the running server.
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { doctorChecks } from "../../src/cli/doctor-command.js";
import { clusterAccessCheck, kubeconfigFlag } from "../../src/cli/plugin-mode.js";
import type { RawClient } from "../../src/kube/raw-client.js";
import { VeleroNotAnsweringError } from "../../src/velero/velero-requests.js";

const OFF_LINE =
  'time="2026-12-04T17:00:00Z" level=warning msg="twinsnap.dev/restore-order is OFF for backup nightly: the plugin has no cluster credentials (no KUBECONFIG); dependencies are not recorded. Fix: set KUBECONFIG" cmd=/plugins/twinsnap pluginName=twinsnap\n';

/** Velero as its API shows it: it processes requests unless `running` is false. */
function memoryVelero(opts: { running?: boolean; plugins?: string[]; backups?: { name: string; log: string }[]; restores?: { name: string; log: string }[] }) {
  const requests = new Map<string, Record<string, any>>();
  const logs = new Map<string, string>();
  const runs = (list: { name: string; log: string }[] = [], kind: string) =>
    list.map((r, i) => {
      logs.set(`${kind}/${r.name}`, r.log);
      return { metadata: { name: r.name, creationTimestamp: `2026-12-0${i + 1}T00:00:00Z` }, status: { phase: "Completed" } };
    });
  const backups = runs(opts.backups, "BackupLog");
  const restores = runs(opts.restores, "RestoreLog");
  const client: RawClient = {
    close: () => undefined,
    watch: () => {
      throw new Error("no watch");
    },
    async get<T>(path: string) {
      if (path.endsWith("/backups")) return { items: backups } as T;
      if (path.endsWith("/restores")) return { items: restores } as T;
      const req = requests.get(path);
      if (!req || opts.running === false) return req as T;
      if (req.kind === "ServerStatusRequest") return { ...req, status: { phase: "Processed", plugins: (opts.plugins ?? []).map((p) => ({ name: p.split(" ")[1], kind: p.split(" ")[0] })) } } as T;
      return { ...req, status: { phase: "Processed", downloadURL: `mem://${req.spec.target.kind}/${req.spec.target.name}` } } as T;
    },
    async send<T>(method: string, path: string, body: any) {
      if (method === "POST") requests.set(`${path}/${body.metadata.name}`, body);
      if (method === "DELETE") requests.delete(path);
      return undefined as T;
    },
  };
  const download = async (url: string) => gzipSync(Buffer.from(logs.get(url.slice("mem://".length)) ?? ""));
  return { client, namespace: "velero", download, sleep: async () => undefined, timeoutMs: 50 };
}

const LOADED = ["BackupItemActionV2 twinsnap.dev/strip-runtime-fields", "RestoreItemActionV2 twinsnap.dev/strip-runtime-fields", "BackupItemActionV2 twinsnap.dev/restore-order", "RestoreItemActionV2 twinsnap.dev/restore-order"];

describe("twinsnap doctor", () => {
  it("all is well: the actions are loaded and the latest backup's and restore's logs carry no warning", async () => {
    const results = await doctorChecks(memoryVelero({ plugins: LOADED, backups: [{ name: "nightly", log: "level=info msg=ok\n" }], restores: [] }));
    assert.deepEqual(results.map((r) => r.state), ["ok", "ok", "ok", "ok"]);
  });

  it("restore-order was off for the latest backup: a warning with the plugin's own cause and fix", async () => {
    const results = await doctorChecks(
      memoryVelero({ plugins: LOADED, backups: [{ name: "older", log: "" }, { name: "nightly", log: OFF_LINE }], restores: [{ name: "r", log: "" }] }),
    );
    const backup = results.find((r) => r.check === "restore-order in the latest backup")!;
    assert.equal(backup.state, "warn");
    assert.equal(backup.detail, "twinsnap.dev/restore-order is OFF for backup nightly: the plugin has no cluster credentials (no KUBECONFIG); dependencies are not recorded. Fix: set KUBECONFIG");
    assert.equal(results.find((r) => r.check === "restore-order in the latest restore")!.state, "ok");
  });

  it("twinsnap is not in the plugins the server loaded: a failure saying how to add it", async () => {
    const results = await doctorChecks(memoryVelero({ plugins: ["ObjectStore velero.io/aws"] }));
    const loaded = results.filter((r) => r.check.endsWith("loaded"));
    assert.deepEqual(loaded.map((r) => r.state), ["fail", "fail"]);
    assert.match(loaded[0]!.detail, /velero plugin add/);
  });

  it("no Velero server processing requests: a typed error naming the namespace", async () => {
    await assert.rejects(doctorChecks(memoryVelero({ running: false })), (err: unknown) => err instanceof VeleroNotAnsweringError && /namespace velero/.test(err.message));
  });
});

describe("the plugin's cluster access check", () => {
  it("reads --kubeconfig among the arguments Velero passes its plugins (its own server arguments)", () => {
    assert.equal(kubeconfigFlag(["--log-level", "info", "--kubeconfig", "/etc/velero/kubeconfig", "--features="]), "/etc/velero/kubeconfig");
    assert.equal(kubeconfigFlag(["--kubeconfig=/k", "--uploader-type=kopia"]), "/k");
    assert.equal(kubeconfigFlag(["--log-level=info"]), undefined);
    assert.equal(kubeconfigFlag(["--kubeconfig="]), undefined);
  });

  it("without any credentials: the cause names what is missing and the fix", async () => {
    const check = clusterAccessCheck({ env: { HOME: "/nonexistent-home" } }, () => Promise.reject(new Error("never called")));
    const problem = await check();
    assert.match(problem!.cause, /no cluster credentials/);
    assert.match(problem!.fix, /KUBECONFIG/);
  });

  it("with credentials but no apiserver: the cause says so, asked again only after 30 s", async () => {
    let now = 0;
    let calls = 0;
    const client = async () => ({ get: async () => (calls++, Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:1"))) }) as unknown as RawClient;
    const check = clusterAccessCheck({ env: { KUBECONFIG: "/some/kubeconfig" } }, client, () => now);
    assert.match((await check())!.cause, /cannot reach the apiserver: connect ECONNREFUSED/);
    await check();
    assert.equal(calls, 1);
    now = 31_000;
    await check();
    assert.equal(calls, 2);
  });

  it("with an apiserver that answers: no problem", async () => {
    const client = async () => ({ get: async () => ({ major: "1" }) }) as unknown as RawClient;
    assert.equal(await clusterAccessCheck({ env: {}, kubeconfigPath: "/k" }, client)(), undefined);
  });
});
