// The plugin as Velero runs it: a separate process, started with go-plugin's environment and Velero's
// flags, reached over the unix socket it announces. Every RPC Velero uses, and the bad inputs it may send.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { jsonBytes, PluginHost } from "../support/go-plugin-host.js";
import { fixture as loadFixture, pluginForms } from "../support/fixtures.js";

const fixture = (name: string) => loadFixture(name) as Record<string, any>;
const NAME = "twinsnap.dev/strip-runtime-fields";
const ORDER = "twinsnap.dev/restore-order";
const backup = fixture("velero-backup");
const restore = fixture("velero-restore");

type Reply = Record<string, unknown> & { item: Buffer };
const parse = (reply: Reply) => JSON.parse(reply.item.toString("utf8")) as Record<string, any>;

/** No cluster credentials: the plugin offers only what works offline (restore order needs a cluster). */
const OFFLINE = { HOME: mkdtempSync(join(tmpdir(), "twinsnap-home-")), KUBECONFIG: "", KUBERNETES_SERVICE_HOST: "" };

for (const { label, command } of pluginForms()) {
  describe(`plugin process (go-plugin conformance), ${label}`, function () {
    let host: PluginHost;

    before(async () => {
      host = await PluginHost.start({ command: command, env: OFFLINE });
    });
    after(async () => {
      await host?.shutdown();
    });

    describe("handshake", () => {
      it("prints one line: core 1, Velero protocol 2, a unix socket in PLUGIN_UNIX_SOCKET_DIR, grpc", () => {
        const { core, app, network, address, protocol, rest } = host.handshake;
        assert.equal(core, "1");
        assert.equal(app, "2");
        assert.equal(network, "unix");
        assert.equal(dirname(address), host.socketDir);
        assert.ok(existsSync(address));
        assert.equal(protocol, "grpc");
        assert.deepEqual(rest, [""], "empty server-certificate field, no multiplexing field unless asked");
        assert.deepEqual(host.stdoutExtra, [], "stdout carries nothing but the handshake");
      });

      it("answers the health check for service 'plugin'", async () => {
        assert.deepEqual(await host.call("Health", "Check", { service: "plugin" }), { status: "SERVING" });
        await assert.rejects(host.call("Health", "Check", { service: "other" }), { code: grpc.status.NOT_FOUND });
      });
    });

    describe("PluginLister", () => {
      it("lists the v2 actions with the path Velero ran: one backup action (strip and restore-order's record in one round trip), restore-order's restore action too without cluster credentials (it warns then)", async () => {
        const reply = await host.call<{ plugins: { command: string; kind: string; name: string }[] }>("PluginLister", "ListPlugins", {});
        assert.deepEqual(
          reply.plugins.map((p) => `${p.kind} ${p.name}`).sort(),
          [`BackupItemActionV2 ${NAME}`, `RestoreItemActionV2 ${ORDER}`, `RestoreItemActionV2 ${NAME}`],
        );
        for (const p of reply.plugins) assert.equal(p.command, command);
      });
    });

    describe("AppliesTo", () => {
      it("applies to every resource, through v1 and v2", async () => {
        for (const service of ["BackupItemActionV1", "BackupItemActionV2", "RestoreItemActionV1", "RestoreItemActionV2"] as const) {
          const reply = await host.call<{ ResourceSelector: { includedResources: string[] } }>(service, "AppliesTo", { plugin: NAME });
          assert.deepEqual(reply.ResourceSelector.includedResources, ["*"], service);
        }
      });
    });

    describe("BackupItemAction Execute", () => {
      for (const service of ["BackupItemActionV1", "BackupItemActionV2"] as const) {
        it(`${service}: a Deployment is stored without runtime fields, Velero's inputs intact`, async () => {
          const item = fixture("deployment");
          const out = parse(await host.call<Reply>(service, "Execute", { plugin: NAME, item: jsonBytes(item), backup: jsonBytes(backup) }));
          assert.equal(out.metadata.resourceVersion, undefined);
          assert.equal(out.metadata.generation, undefined);
          assert.equal(out.metadata.annotations["deployment.kubernetes.io/revision"], undefined);
          assert.equal(out.status, undefined);
          assert.deepEqual(out.spec, item.spec);
          assert.equal(out.metadata.uid, item.metadata.uid, "uid stays: it ties the item to the paired etcd snapshot");
          assert.deepEqual(out.metadata.managedFields, item.metadata.managedFields, "Velero re-applies managedFields");
          assert.ok(out.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]);
        });
      }

      it("Services of every type keep what makes them what they are", async () => {
        const cases: [string, (spec: Record<string, any>) => void][] = [
          ["service-clusterip", (s) => assert.equal(s.clusterIP, undefined)],
          ["service-headless", (s) => assert.equal(s.clusterIP, "None")],
          ["service-externalname", (s) => assert.equal(s.externalName, "payments.example.com")],
          ["service-nodeport", (s) => assert.deepEqual(s.ports.map((p: any) => p.nodePort), fixture("service-nodeport").spec.ports.map((p: any) => p.nodePort))],
          ["service-loadbalancer", (s) => assert.equal(s.healthCheckNodePort, fixture("service-loadbalancer").spec.healthCheckNodePort)],
        ];
        for (const [name, check] of cases) {
          const out = parse(await host.call<Reply>("BackupItemActionV2", "Execute", { plugin: NAME, item: jsonBytes(fixture(name)), backup: jsonBytes(backup) }));
          check(out.spec);
        }
      });

      it("PV, PVC, Pod and Job keep the status and binding Velero reads at restore", async () => {
        for (const name of ["pv-bound", "pvc-bound", "pod-with-token", "job"]) {
          const item = fixture(name);
          const out = parse(await host.call<Reply>("BackupItemActionV2", "Execute", { plugin: NAME, item: jsonBytes(item), backup: jsonBytes(backup) }));
          assert.deepEqual(out.status, item.status, name);
        }
        const pvc = parse(await host.call<Reply>("BackupItemActionV2", "Execute", { plugin: NAME, item: jsonBytes(fixture("pvc-bound")), backup: jsonBytes(backup) }));
        assert.equal(pvc.spec.volumeName, "pvc-0b5c8f3e-2f7a-4d1e-8a6b-3c9d2e1f0a4b");
        assert.equal(pvc.metadata.annotations["volume.kubernetes.io/selected-node"], "worker-2");
        const pod = parse(await host.call<Reply>("BackupItemActionV2", "Execute", { plugin: NAME, item: jsonBytes(fixture("pod-with-token")), backup: jsonBytes(backup) }));
        assert.equal(pod.spec.nodeName, "worker-2");
        assert.equal(pod.metadata.annotations["backup.velero.io/backup-volumes"], "data");
      });

      it("returns no additional items and no operation", async () => {
        const reply = await host.call<Reply & { additionalItems: unknown[]; operationID: string }>("BackupItemActionV2", "Execute", {
          plugin: NAME,
          item: jsonBytes(fixture("crd")),
          backup: jsonBytes(backup),
        });
        assert.deepEqual(reply.additionalItems, []);
        assert.equal(reply.operationID, "");
      });
    });

    describe("RestoreItemAction Execute", () => {
      for (const service of ["RestoreItemActionV1", "RestoreItemActionV2"] as const) {
        it(`${service}: a Pod loses its node, token volume and priority`, async () => {
          const item = fixture("pod-with-token");
          const out = parse(await host.call<Reply>(service, "Execute", { plugin: NAME, item: jsonBytes(item), itemFromBackup: jsonBytes(item), restore: jsonBytes(restore) }));
          assert.equal(out.spec.nodeName, undefined);
          assert.equal(out.spec.priority, undefined);
          assert.deepEqual(out.spec.volumes.map((v: any) => v.name), ["data"]);
          assert.deepEqual(out.spec.containers[0].volumeMounts.map((m: any) => m.name), ["data"]);
        });
      }

      it("a generated token Secret is skipped, and the reply still carries the item", async () => {
        const item = fixture("secret-sa-token-generated");
        const reply = await host.call<Reply & { skipRestore: boolean }>("RestoreItemActionV2", "Execute", {
          plugin: NAME,
          item: jsonBytes(item),
          itemFromBackup: jsonBytes(item),
          restore: jsonBytes(restore),
        });
        assert.equal(reply.skipRestore, true);
        assert.equal(parse(reply).kind, "Secret");
      });

      it("Job selectors, PVC binding and allocated nodePorts go; explicit nodePorts stay", async () => {
        const run = async (name: string, restoreObj = restore) => {
          const item = fixture(name);
          return parse(await host.call<Reply>("RestoreItemActionV2", "Execute", { plugin: NAME, item: jsonBytes(item), itemFromBackup: jsonBytes(item), restore: jsonBytes(restoreObj) }));
        };
        const job = await run("job");
        assert.equal(job.spec.selector, undefined);
        assert.equal(job.spec.template.metadata.labels["batch.kubernetes.io/controller-uid"], undefined);
        const boundClaim = fixture("pvc-bound");
        assert.ok(boundClaim.metadata.annotations["pv.kubernetes.io/bind-completed"], "the captured claim was bound");
        const pvc = await run("pvc-bound");
        assert.equal(pvc.metadata.annotations?.["pv.kubernetes.io/bind-completed"], undefined);
        assert.equal(pvc.metadata.annotations?.["volume.kubernetes.io/selected-node"], undefined);
        assert.equal(pvc.spec.volumeName, boundClaim.spec.volumeName);
        const nodePort = await run("service-nodeport");
        assert.deepEqual(nodePort.spec.ports.map((p: any) => p.nodePort), [31080, undefined], "31080 was in the applied manifest");
        assert.equal(nodePort.metadata.annotations?.["kubectl.kubernetes.io/last-applied-configuration"], undefined);
        const preserving = { ...restore, spec: { ...(restore.spec as object), preserveNodePorts: true } };
        const kept = await run("service-loadbalancer", preserving);
        const lb = fixture("service-loadbalancer").spec;
        assert.ok(lb.healthCheckNodePort > 0);
        assert.equal(kept.spec.healthCheckNodePort, lb.healthCheckNodePort);
        assert.deepEqual(kept.spec.ports.map((p: any) => p.nodePort), lb.ports.map((p: any) => p.nodePort));
      });

      it("additional items are ready at once and there is no asynchronous operation", async () => {
        assert.deepEqual(await host.call("RestoreItemActionV2", "AreAdditionalItemsReady", { plugin: NAME, restore: jsonBytes(restore), additionalItems: [] }), { ready: true });
        await assert.rejects(host.call("RestoreItemActionV2", "Progress", { plugin: NAME, operationID: "op-1", restore: jsonBytes(restore) }), {
          code: grpc.status.NOT_FOUND,
          details: /no operation "op-1"/,
        });
        await assert.rejects(host.call("BackupItemActionV2", "Cancel", { plugin: NAME, operationID: "op-1", backup: jsonBytes(backup) }), { code: grpc.status.NOT_FOUND });
      });
    });

    describe("bad input never kills the plugin", () => {
      it("an unknown plugin name is NOT_FOUND and names the plugin", async () => {
        await assert.rejects(host.call("BackupItemActionV2", "Execute", { plugin: "example.com/nope", item: jsonBytes(fixture("crd")), backup: jsonBytes(backup) }), {
          code: grpc.status.NOT_FOUND,
          details: /example\.com\/nope/,
        });
        await assert.rejects(host.call("RestoreItemActionV1", "AppliesTo", { plugin: "example.com/nope" }), { code: grpc.status.NOT_FOUND });
      });

      it("malformed item JSON is INVALID_ARGUMENT with the parse error", async () => {
        await assert.rejects(host.call("BackupItemActionV2", "Execute", { plugin: NAME, item: Buffer.from('{"kind": "Pod", '), backup: jsonBytes(backup) }), {
          code: grpc.status.INVALID_ARGUMENT,
          details: /item is not valid JSON/,
        });
      });

      it("an item without kind, an array or an empty item is INVALID_ARGUMENT", async () => {
        for (const bad of [{ apiVersion: "v1", metadata: {} }, [1, 2], null]) {
          await assert.rejects(host.call("RestoreItemActionV2", "Execute", { plugin: NAME, item: jsonBytes(bad), itemFromBackup: Buffer.alloc(0), restore: jsonBytes(restore) }), {
            code: grpc.status.INVALID_ARGUMENT,
          });
        }
        await assert.rejects(host.call("RestoreItemActionV2", "Execute", { plugin: NAME, item: Buffer.alloc(0), restore: jsonBytes(restore) }), {
          code: grpc.status.INVALID_ARGUMENT,
          details: /item is empty/,
        });
      });

      it("keeps serving after bad input, and items beyond gRPC's 4 MiB default pass", async () => {
        const big = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "big", namespace: "a", resourceVersion: "1" }, data: { blob: "x".repeat(6 * 1024 * 1024) } };
        const out = parse(await host.call<Reply>("BackupItemActionV2", "Execute", { plugin: NAME, item: jsonBytes(big), backup: jsonBytes(backup) }));
        assert.equal(out.data.blob.length, 6 * 1024 * 1024);
        assert.equal(out.metadata.resourceVersion, undefined);
      });

      it("answers 16 calls in flight", async () => {
        const item = jsonBytes(fixture("deployment"));
        const replies = await Promise.all(Array.from({ length: 16 }, () => host.call<Reply>("BackupItemActionV2", "Execute", { plugin: NAME, item, backup: jsonBytes(backup) })));
        assert.equal(new Set(replies.map((r) => r.item.toString())).size, 1);
      });

      it("ignores SIGINT (the host stops its plugins itself)", async () => {
        process.kill(host.pid, "SIGINT");
        await new Promise((r) => setTimeout(r, 200));
        assert.deepEqual(await host.call("Health", "Check", { service: "plugin" }), { status: "SERVING" });
      });

      it("logs go to stderr as go-plugin JSON: string @level and @message, no @timestamp", () => {
        const lines = host.stderrLines.filter((l) => l.trim() !== "");
        assert.ok(lines.length > 0, "the failed requests above were logged");
        for (const line of lines) {
          const entry = JSON.parse(line) as Record<string, unknown>;
          assert.equal(typeof entry["@level"], "string", line);
          assert.equal(typeof entry["@message"], "string", line);
          assert.equal(entry["@timestamp"], undefined, line);
        }
        assert.ok(!lines.some((l) => JSON.parse(l)["@level"] === "error"), "bad requests are Velero's item errors, not plugin errors");
      });
    });
  });

  describe(`plugin process lifecycle, ${label}`, () => {
    it("Shutdown stops it gracefully and removes its socket", async () => {
      const host = await PluginHost.start({ command: command, env: OFFLINE });
      const socket = host.handshake.address;
      const result = await host.shutdown();
      assert.equal(result.graceful, true, "exited before go-plugin's 2 s kill");
      assert.equal(result.code, 0);
      assert.equal(existsSync(socket), false);
    });

    it("lists v1 kinds for Velero releases without v2 actions when TWINSNAP_VELERO_API=v1", async () => {
      const host = await PluginHost.start({ command: command, env: { ...OFFLINE, TWINSNAP_VELERO_API: "v1" } });
      try {
        const reply = await host.call<{ plugins: { kind: string }[] }>("PluginLister", "ListPlugins", {});
        assert.deepEqual(reply.plugins.map((p) => p.kind).sort(), ["BackupItemAction", "RestoreItemAction", "RestoreItemAction"]);
      } finally {
        await host.shutdown();
      }
    });

    it("announces that it does not multiplex when the host asks", async () => {
      const host = await PluginHost.start({ command: command, env: { ...OFFLINE, PLUGIN_MULTIPLEX_GRPC: "true" } });
      try {
        assert.deepEqual(host.handshake.rest, ["", "false"]);
      } finally {
        await host.shutdown();
      }
    });

    it("started by hand, it says it is a Velero plugin and how to install it, and exits non-zero", () => {
      const env = { ...process.env };
      delete env.VELERO_PLUGIN;
      const run = spawnSync(command, ["--log-level", "info"], { env, encoding: "utf8" });
      assert.notEqual(run.status, 0);
      assert.equal(run.stdout, "");
      assert.match(run.stderr, /Velero plugin/);
      assert.match(run.stderr, /velero plugin add/);
    });

    it("refuses a host that does not speak Velero's protocol version 2", () => {
      const run = spawnSync(command, [], { env: { ...process.env, VELERO_PLUGIN: "hello", PLUGIN_PROTOCOL_VERSIONS: "1,3" }, encoding: "utf8" });
      assert.notEqual(run.status, 0);
      assert.equal(run.stdout, "");
      assert.match(run.stderr, /protocol versions "1,3"/);
    });

    it("a wrong cookie value is refused like a missing one", () => {
      const run = spawnSync(command, [], { env: { ...process.env, VELERO_PLUGIN: "bye" }, encoding: "utf8" });
      assert.notEqual(run.status, 0);
      assert.equal(run.stdout, "");
    });
  });

  describe(`plugin configuration, ${label}`, () => {
    const configDir = mkdtempSync(join(tmpdir(), "twinsnap-config-"));

    it("applies a user's rule and exemption from the configuration", async () => {
      const file = join(configDir, "good.yaml");
      writeFileSync(
        file,
        [
          "rules:",
          "  - name: widget-color",
          "    kinds: [example.com/Widget]",
          "    stages: [backup]",
          "    remove: [spec.color]",
          "    why: the operator picks a color per cluster",
          "exempt:",
          "  kinds: [apps/Deployment]",
        ].join("\n"),
      );
      const host = await PluginHost.start({ command: command, env: { ...OFFLINE, TWINSNAP_PLUGIN_CONFIG_FILE: file } });
      try {
        const widget = parse(await host.call<Reply>("BackupItemActionV2", "Execute", { plugin: NAME, item: jsonBytes(fixture("cr-widget")), backup: jsonBytes(backup) }));
        assert.deepEqual(widget.spec, { size: 3 });
        const deployment = fixture("deployment");
        const out = parse(await host.call<Reply>("BackupItemActionV2", "Execute", { plugin: NAME, item: jsonBytes(deployment), backup: jsonBytes(backup) }));
        assert.deepEqual(out, deployment, "exempt kinds pass through untouched");
      } finally {
        await host.shutdown();
      }
    });

    it("a bad rule is reported once as an error and the built-in rules still apply: no item is lost", async () => {
      const file = join(configDir, "bad.yaml");
      writeFileSync(file, "rules:\n  - name: Bad Name\n    kinds: [Pod]\n    remove: ['spec..x']\n");
      const host = await PluginHost.start({ command: command, env: { ...OFFLINE, TWINSNAP_PLUGIN_CONFIG_FILE: file } });
      try {
        for (let i = 0; i < 3; i++) {
          const out = parse(await host.call<Reply>("BackupItemActionV2", "Execute", { plugin: NAME, item: jsonBytes(fixture("deployment")), backup: jsonBytes(backup) }));
          assert.equal(out.metadata.resourceVersion, undefined);
        }
        const errors = host.stderrLines.map((l) => JSON.parse(l) as Record<string, string>).filter((e) => e["@level"] === "error");
        assert.equal(errors.length, 1, "reported once, not per item");
        assert.match(errors[0]!["@message"]!, /rules\[0\]\.name/);
        assert.match(errors[0]!["@message"]!, /spec\.\.x/);
        assert.match(errors[0]!["@message"]!, /built-in rules apply/);
      } finally {
        await host.shutdown();
      }
    });
  });
}
