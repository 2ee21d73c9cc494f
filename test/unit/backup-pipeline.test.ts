// At backup twinsnap is one BackupItemAction: stripping and restore order in one gRPC round trip per item.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import type { BackupItemAction, ResourceIdentifier } from "../../src/actions/action.js";
import { backupPipeline } from "../../src/actions/backup-pipeline.js";
import { keepItemOnFailure } from "../../src/actions/keep-item-on-failure.js";
import { RESTORE_AFTER_ANNOTATION, restoreOrderBackupAction, type ClusterView } from "../../src/actions/restore-order.js";
import { STRIP_RUNTIME_FIELDS, stripRuntimeFieldsBackupAction } from "../../src/actions/strip-runtime-fields.js";
import { createLogger, silentLogger } from "../../src/log/logger.js";
import { DEFAULT_RULES } from "../../src/manifest/rules-config.js";
import { fixture } from "../support/fixtures.js";

const RESOURCES: Record<string, string> = { "/ServiceAccount": "serviceaccounts", "/ConfigMap": "configmaps", "/Secret": "secrets", "/PersistentVolumeClaim": "persistentvolumeclaims" };
const cluster = (existing: string[]): ClusterView => ({
  resourceFor: async (group, kind) => RESOURCES[`${group}/${kind}`],
  exists: async (id: ResourceIdentifier) => existing.includes(`${id.resource}/${id.namespace}/${id.name}`),
  isReady: async () => true,
});
const backup = fixture("velero-backup");
const byLabel = { ...backup, spec: { ...(backup.spec as object), labelSelector: { matchLabels: { app: "web" } } } };
const strip = () => keepItemOnFailure(stripRuntimeFieldsBackupAction(async () => DEFAULT_RULES.strip, silentLogger()), silentLogger());

describe("the backup pipeline (one BackupItemAction per item)", () => {
  it("strips and records restore order in one call, exactly as the two actions did one after the other", async () => {
    const view = cluster(["serviceaccounts/shop/web", "configmaps/shop/web-config", "secrets/shop/db", "persistentvolumeclaims/shop/data"]);
    const order = restoreOrderBackupAction(view, silentLogger());
    const pipeline = backupPipeline(STRIP_RUNTIME_FIELDS, [strip(), order]);
    const one = await pipeline.execute({ item: fixture("deployment"), backup: byLabel });
    const stripped = await strip().execute({ item: fixture("deployment"), backup: byLabel });
    const two = await order.execute({ item: stripped.item, backup: byLabel });
    assert.deepEqual(one, two);
    assert.equal(one.item.metadata.resourceVersion, undefined);
    assert.equal(JSON.parse(one.item.metadata.annotations![RESTORE_AFTER_ANNOTATION]!).length, 4);
    assert.equal(one.additionalItems!.length, 4);
    assert.equal(pipeline.name, "twinsnap.dev/strip-runtime-fields");
  });

  it("a failing step costs only its own changes, and the error names that step", async () => {
    const lines: { "@level": string; "@message": string }[] = [];
    const log = createLogger({ level: "debug", stream: new Writable({ write: (c, _e, done) => (lines.push(JSON.parse(String(c))), done()) }) });
    const broken: ClusterView = { resourceFor: async () => { throw new Error("apiserver unreachable"); }, exists: async () => false, isReady: async () => false };
    const pipeline = backupPipeline(STRIP_RUNTIME_FIELDS, [strip(), keepItemOnFailure(restoreOrderBackupAction(broken, log), log)]);
    const out = await pipeline.execute({ item: fixture("deployment"), backup });
    assert.equal(out.item.metadata.resourceVersion, undefined, "stripped all the same");
    assert.equal(out.item.metadata.annotations?.[RESTORE_AFTER_ANNOTATION], undefined);
    await new Promise((r) => setImmediate(r));
    assert.equal(lines.filter((l) => l["@level"] === "error").length, 1);
    assert.match(lines.find((l) => l["@level"] === "error")!["@message"], /^twinsnap\.dev\/restore-order failed on apps\/Deployment shop\/web: apiserver unreachable/);
  });

  it("names each additional item once, in the order the steps found them", async () => {
    const id = (name: string): ResourceIdentifier => ({ group: "", resource: "configmaps", namespace: "shop", name });
    const step = (ids: ResourceIdentifier[]): BackupItemAction => ({ family: "backup", name: "x.dev/s", appliesTo: () => ({}), execute: async ({ item }) => ({ item, additionalItems: ids }) });
    const out = await backupPipeline("x.dev/p", [step([id("a"), id("b")]), step([id("b"), id("c")])]).execute({ item: fixture("deployment"), backup });
    assert.deepEqual(out.additionalItems!.map((i) => i.name), ["a", "b", "c"]);
    assert.throws(() => backupPipeline("x.dev/empty", []));
  });
});
