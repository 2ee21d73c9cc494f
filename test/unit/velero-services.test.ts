// The mux in-process, with actions that misbehave on purpose: an exception in an action must become a
// gRPC error with a clear message, and the server must go on serving.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import type { RestoreItemAction } from "../../src/actions/action.js";
import { silentLogger } from "../../src/log/logger.js";
import { startGoPluginServer, type RunningGoPlugin } from "../../src/velero-plugin/go-plugin-server.js";
import { negotiateHandshake } from "../../src/velero-plugin/handshake.js";
import { ActionRegistry } from "../../src/velero-plugin/registry.js";
import { addVeleroServices } from "../../src/velero-plugin/velero-services.js";
import { UNLIMITED_MESSAGES, Wire } from "../support/wire-clients.js";

const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "p", namespace: "n" } };

function action(name: string, execute: RestoreItemAction["execute"], extra: Partial<RestoreItemAction> = {}): RestoreItemAction {
  return { family: "restore", name, appliesTo: () => ({ includedResources: ["pods"] }), execute, ...extra };
}

describe("Velero services mux", () => {
  const seen: Record<string, unknown>[] = [];
  let server: RunningGoPlugin;
  let client: grpc.Client & Record<string, Function>;
  const call = (method: string, req: unknown) =>
    new Promise<Record<string, any>>((resolve, reject) => client[method]!(req, (e: grpc.ServiceError | null, r: Record<string, any>) => (e ? reject(e) : resolve(r))));
  const exec = (plugin: string) => call("Execute", { plugin, item: Buffer.from(JSON.stringify(pod)), itemFromBackup: Buffer.from(JSON.stringify(pod)), restore: Buffer.from("{}") });

  before(async () => {
    const registry = new ActionRegistry()
      .register(action("test.dev/sees-restore", async ({ item, restore }) => (seen.push(restore), { item })))
      .register(action("test.dev/throws", async () => { throw new TypeError("cannot read properties of undefined (reading 'spec')"); }))
      .register(action("test.dev/throws-sync", (() => { throw new Error("sync boom"); }) as unknown as RestoreItemAction["execute"]))
      .register(action("test.dev/no-kind", async () => ({ item: { metadata: {} } as never })))
      .register(
        action("test.dev/waits", async ({ item }) => ({
          item,
          additionalItems: [{ group: "apiextensions.k8s.io", resource: "customresourcedefinitions", namespace: "", name: "widgets.example.com" }],
          waitForAdditionalItems: true,
          additionalItemsReadyTimeoutMs: 90_500,
        }), { areAdditionalItemsReady: async (items) => items.length === 1 && items[0]!.name === "widgets.example.com" }),
      );
    server = await startGoPluginServer({
      handshake: negotiateHandshake({ VELERO_PLUGIN: "hello" }),
      log: silentLogger(),
      addServices: (s) => addVeleroServices(s, { registry, command: "/plugins/twinsnap", listedApi: "v2", log: silentLogger() }),
    });
    client = new Wire.RestoreItemActionV2(`unix://${server.socketPath}`, grpc.credentials.createInsecure(), UNLIMITED_MESSAGES) as never;
  });
  after(async () => {
    client.close();
    await server.stop("test done");
  });

  it("turns an exception in an action into an error naming the action and the item", async () => {
    await assert.rejects(exec("test.dev/throws"), { code: grpc.status.UNKNOWN, details: /test\.dev\/throws failed on Pod n\/p: cannot read properties/ });
    await assert.rejects(exec("test.dev/throws-sync"), { code: grpc.status.UNKNOWN, details: /sync boom/ });
  });

  it("parses the Restore (or Backup) Velero sends with every item once, shared frozen; other bytes are parsed anew", async () => {
    const send = (restore: object) => call("Execute", { plugin: "test.dev/sees-restore", item: Buffer.from(JSON.stringify(pod)), itemFromBackup: Buffer.from(JSON.stringify(pod)), restore: Buffer.from(JSON.stringify(restore)) });
    const first = { kind: "Restore", metadata: { name: "r1" }, spec: { namespaceMapping: { a: "b" } } };
    await send(first);
    await send(first);
    await send({ ...first, metadata: { name: "r2" } });
    assert.equal(seen.length, 3);
    assert.equal(seen[0], seen[1], "the same bytes: parsed once");
    assert.deepEqual(seen[1], first);
    assert.ok(Object.isFrozen(seen[0]) && Object.isFrozen((seen[0]!.spec as Record<string, unknown>).namespaceMapping));
    assert.deepEqual((seen[2]!.metadata as Record<string, unknown>).name, "r2");
  });

  it("replaces a result Velero would reject (no kind) with the item Velero sent, byte for byte", async () => {
    const reply = await exec("test.dev/no-kind");
    assert.equal(reply.item.toString("utf8"), JSON.stringify(pod));
  });

  it("passes additional items, the wait flag and the timeout through to Velero", async () => {
    const reply = await exec("test.dev/waits");
    assert.equal(reply.waitForAdditionalItems, true);
    assert.deepEqual(reply.additionalItemsReadyTimeout, { seconds: "90", nanos: 500_000_000 });
    assert.equal(reply.additionalItems[0].name, "widgets.example.com");
    const ready = await call("AreAdditionalItemsReady", { plugin: "test.dev/waits", restore: Buffer.from("{}"), additionalItems: reply.additionalItems });
    assert.deepEqual(ready, { ready: true });
  });

  it("keeps serving after every failure above", async () => {
    const reply = await call("AppliesTo", { plugin: "test.dev/waits" });
    assert.deepEqual(reply.ResourceSelector.includedResources, ["pods"]);
  });
});
