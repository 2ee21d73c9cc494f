// Faults, with the real Velero server and twinsnap as users install it: the plugin process killed mid-backup,
// an item twinsnap cannot process, and a broken twinsnap configuration. In each case Velero keeps running,
// the backup says what went wrong, and nothing else is lost.
import assert from "node:assert/strict";
import type { BackupItem } from "../../src/velero/backup-archive.js";
import type { E2eCluster } from "./support/cluster.js";
import { useE2eEnvironment } from "./support/e2e-environment.js";
import { parseLog, twinsnapLines } from "./support/velero-log.js";
import type { VeleroServer } from "./support/velero-server.js";
import type { ProcessInfo } from "./support/processes.js";
import { BEFORE_ITEMS_DONE_PHASES, FINISHED_PHASES } from "./support/velero-cli.js";
import { waitUntil } from "./support/wait.js";

const PREFIX = "faults";
const BULK = 1500;

const configMap = (namespace: string, name: string, data: Record<string, string>) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace }, data });
const service = (namespace: string, name: string) => ({ apiVersion: "v1", kind: "Service", metadata: { name, namespace }, spec: { selector: { app: name }, ports: [{ port: 80 }] } });

/**
 * A Document whose body nests `depth` levels deep (a generated tree a controller might store in a custom
 * resource), as JSON text built as text: JSON.stringify itself cannot encode 6000 levels.
 */
function deepDocumentJson(namespace: string, name: string, depth: number): string {
  const meta = JSON.stringify({ name, namespace });
  return `{"apiVersion":"docs.example.com/v1","kind":"Document","metadata":${meta},"spec":{"tree":${'{"child":'.repeat(depth)}{"leaf":true}${"}".repeat(depth)}}}`;
}

const DOCUMENT_CRD = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "documents.docs.example.com" },
  spec: {
    group: "docs.example.com",
    scope: "Namespaced",
    names: { kind: "Document", plural: "documents", singular: "document", listKind: "DocumentList" },
    versions: [{ name: "v1", served: true, storage: true, schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } } }],
  },
};

const names = (items: BackupItem[], namespace: string) => items.filter((i) => i.namespace === namespace).map((i) => `${i.object.kind} ${i.name}`).sort();

describe("faults, with the real Velero server and twinsnap", function () {
  this.timeout(600_000);
  const env = useE2eEnvironment("faults");
  let cluster: E2eCluster;
  let velero: VeleroServer;

  before(async function () {
    this.timeout(600_000);
    cluster = await env().startCluster("source");
    await cluster.apply([DOCUMENT_CRD]);
    await cluster.kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd/documents.docs.example.com"]);
    await cluster.kubectl(["create", "namespace", "bulk"]);
    // `create`, not `apply`: one request per object, and no last-applied copy doubling each one.
    const bulk = Array.from({ length: BULK }, (_, i) => configMap("bulk", `item-${String(i).padStart(4, "0")}`, { index: String(i), payload: "p".repeat(512) }));
    for (let i = 0; i < bulk.length; i += 250) {
      await cluster.kubectl(["create", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "List", items: bulk.slice(i, i + 250) }) });
    }
    velero = await env().startVelero(cluster, { twinsnap: true, prefix: PREFIX });
  });

  it("the twinsnap process killed mid-backup: Velero keeps running, restarts it, says so; the next backup is Completed", async () => {
    await velero.cli.run(["backup", "create", "interrupted", "--include-namespaces", "bulk", "--snapshot-volumes=false"]);
    // Deterministic: the kill lands while items are being processed, as the Backup's own progress shows.
    let victim: ProcessInfo | undefined;
    let endedEarly: string | undefined;
    await waitUntil(
      "the backup InProgress with items done and twinsnap running",
      async () => {
        const status = await velero.cli.backupStatus("interrupted");
        if (!BEFORE_ITEMS_DONE_PHASES.has(status.phase)) endedEarly = status.phase;
        const done = status.raw.status?.progress?.itemsBackedUp ?? 0;
        victim = velero.twinsnapProcesses()[0];
        return status.phase === "InProgress" && done >= 50 && victim !== undefined;
      },
      { intervalMs: 50, failIf: () => endedEarly && `the backup ended (${endedEarly}) before the kill: make it larger than ${BULK} items` },
    );
    process.kill(victim!.pid, "SIGKILL");

    await waitUntil("the interrupted backup finished", async () => {
      const { phase } = await velero.cli.backupStatus("interrupted");
      return FINISHED_PHASES.has(phase) && phase;
    });
    assert.ok(velero.running, "the Velero server is still running");
    const status = await velero.cli.backupStatus("interrupted");
    const log = await velero.cli.backupLogs("interrupted");
    const errors = parseLog(log).filter((l) => l.level === "error");
    assert.equal(status.phase, "PartiallyFailed");
    const exit = errors.find((l) => l.msg === "plugin process exited");
    assert.ok(exit, `Velero reports the plugin's exit:\n${errors.map((l) => l.raw).join("\n")}`);
    assert.equal(exit.fields.id, String(victim!.pid));
    assert.match(exit.fields.error ?? "", /signal: killed/);
    assert.match(exit.fields.plugin ?? "", /\/twinsnap$/);
    // go-plugin's own lines about the process (its exit, its closed stdout) carry the plugin's command; any other
    // error is an item whose call was cut off by the kill, and names it.
    const itemErrors = errors.filter((l) => !/\/twinsnap$/.test(l.fields.cmd ?? ""));
    for (const e of itemErrors) assert.ok(e.fields.name || /name=item-/.test(e.raw), `an error names its item: ${e.raw}`);

    // Velero started twinsnap again for the items after the kill: they are in the backup, stripped.
    const items = await env().store.backupItems(PREFIX, "interrupted");
    const bulk = items.filter((i) => i.namespace === "bulk" && i.name.startsWith("item-"));
    const lost = itemErrors.length;
    assert.ok(bulk.length >= BULK - lost, `${bulk.length} of ${BULK} items stored; ${lost} errors`);
    assert.deepEqual(bulk.filter((i) => i.object.metadata.resourceVersion !== undefined).map((i) => i.name), []);

    const next = await velero.cli.backupCreate("after-the-kill", ["--include-namespaces", "bulk", "--snapshot-volumes=false"]);
    assert.equal(next.phase, "Completed");
    const again = (await env().store.backupItems(PREFIX, "after-the-kill")).filter((i) => i.namespace === "bulk" && i.name.startsWith("item-"));
    assert.equal(again.length, BULK);
    assert.deepEqual(again.filter((i) => i.object.metadata.resourceVersion !== undefined).map((i) => i.name), []);
  });

  it("an item twinsnap cannot process: the backup says which, keeps it unstripped, and every other item is there", async () => {
    await cluster.kubectl(["create", "namespace", "odd"]);
    await cluster.apply([
      configMap("odd", "ordinary", { a: "1" }),
      service("odd", "frontend"),
      { apiVersion: "docs.example.com/v1", kind: "Document", metadata: { name: "shallow", namespace: "odd" }, spec: { tree: { leaf: true } } },
    ]);
    // 6000 levels: the apiserver and Velero accept it (their limit is 10000), twinsnap's own walks are iterative,
    // but V8's JSON.stringify cannot encode the stripped result: the one failure left for such an item.
    await cluster.kubectl(["create", "-f", "-"], { input: deepDocumentJson("odd", "deep-tree", 6000) });
    const status = await velero.cli.backupCreate("odd-shapes", ["--include-namespaces", "odd", "--snapshot-volumes=false"]);
    const log = parseLog(await velero.cli.backupLogs("odd-shapes"));
    const errors = log.filter((l) => l.level === "error");
    assert.equal(status.phase, "PartiallyFailed", `${status.phase}`);
    assert.ok(errors.length >= 1);
    // The message names the action, the item and the reason. Velero would leave an item whose action failed out
    // of the backup, so twinsnap's actions keep it as Velero gave it (unstripped) and report the failure instead.
    assert.ok(
      errors.some((e) => /twinsnap\.dev\/strip-runtime-fields (failed on|could not encode its result for|could not read) docs\.example\.com\/Document odd\/deep-tree\b.*Maximum call stack size exceeded/.test(e.raw)),
      errors.map((e) => e.raw).join("\n"),
    );
    for (const e of errors) assert.match(e.raw, /deep-tree/, `every error is about that item: ${e.raw}`);
    const items = await env().store.backupItems(PREFIX, "odd-shapes");
    const stored = names(items, "odd");
    for (const expected of ["ConfigMap ordinary", "Service frontend", "Document shallow", "Document deep-tree"]) assert.ok(stored.includes(expected), `${expected} in ${stored.join(", ")}`);
    const kept = items.find((i) => i.object.kind === "Document" && i.name === "deep-tree")!.object as Record<string, any>;
    assert.ok(kept.metadata.resourceVersion, "the item twinsnap could not process is stored as Velero read it, not stripped");
    const svc = items.find((i) => i.object.kind === "Service" && i.name === "frontend")!.object as Record<string, any>;
    assert.equal(svc.spec.clusterIP, undefined, "the other items are stripped as usual");
  });

  it("a broken twinsnap configuration: PartiallyFailed with twinsnap's message, every item backed up with the built-in rules", async () => {
    await cluster.kubectl(["create", "namespace", "plain"]);
    await cluster.apply([configMap("plain", "settings", { mode: "production" }), service("plain", "web")]);
    await cluster.apply([
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "twinsnap-config", namespace: "velero", labels: { "velero.io/plugin-config": "", "twinsnap.dev/strip-runtime-fields": "RestoreItemAction" } },
        data: { "config.yaml": "rules:\n  - name: Not A Valid Name\n    kinds: [Service]\n    remove: [spec..ports]\n" },
      },
    ]);
    try {
      const status = await velero.cli.backupCreate("broken-config", ["--include-namespaces", "plain", "--snapshot-volumes=false"]);
      const fromTwinsnap = twinsnapLines(parseLog(await velero.cli.backupLogs("broken-config")));
      assert.equal(status.phase, "PartiallyFailed");
      const errors = fromTwinsnap.filter((l) => l.level === "error");
      assert.equal(errors.length, 1, errors.map((l) => l.raw).join("\n"));
      assert.match(errors[0]!.msg, /ConfigMap velero\/twinsnap-config/);
      assert.match(errors[0]!.msg, /rules\[0\]\.name must be a lowercase name/);
      assert.match(errors[0]!.msg, /invalid field path "spec\.\.ports"/);
      assert.match(errors[0]!.msg, /built-in rules apply/);
      const items = await env().store.backupItems(PREFIX, "broken-config");
      const stored = names(items, "plain");
      for (const expected of ["ConfigMap settings", "ConfigMap kube-root-ca.crt", "Service web", "ServiceAccount default"]) assert.ok(stored.includes(expected), `${expected} in ${stored.join(", ")}`);
      const web = items.find((i) => i.object.kind === "Service" && i.name === "web")!.object as Record<string, any>;
      assert.equal(web.spec.clusterIP, undefined, "built-in rules applied");
      assert.equal(web.metadata.resourceVersion, undefined);
      assert.deepEqual(web.spec.ports.map((p: { port: number }) => p.port), [80], "the broken rule removed nothing");
    } finally {
      await cluster.kubectl(["delete", "configmap", "twinsnap-config", "-n", "velero"]);
    }
  });
});
