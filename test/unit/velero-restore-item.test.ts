// What Velero does to a restored item after its actions, as twinsnap repeats it for the items it creates last.
import assert from "node:assert/strict";
import { existingObjectStep, mergePatch, veleroLabelValue, withRestoreLabels } from "../../src/manifest/velero-restore-item.js";
import type { KubeObject } from "../../src/manifest/object.js";

describe("Velero's restore of an item, repeated", () => {
  it("label values: names up to 63 characters as they are, longer ones cut to 57 plus 6 of their sha256 (label.GetValidName)", () => {
    assert.equal(veleroLabelValue("nightly-20261120"), "nightly-20261120");
    const long = `${"a".repeat(70)}`;
    // sha256 of 70 "a"s starts with 6bd5e5 (computed independently: printf 'a%.0s' $(seq 1 70) | sha256sum).
    assert.equal(veleroLabelValue(long), `${"a".repeat(57)}6bd5e5`);
    assert.equal(veleroLabelValue("x".repeat(63)), "x".repeat(63));
  });

  it("adds the backup and restore names as labels, keeping the object's own", () => {
    const o = withRestoreLabels({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", labels: { app: "web" } } }, "r1", "b1");
    assert.deepEqual(o.metadata.labels, { app: "web", "velero.io/backup-name": "b1", "velero.io/restore-name": "r1" });
  });

  const patches: [string, unknown, unknown, unknown][] = [
    ["equal objects: no patch", { a: 1, b: [1, 2] }, { a: 1, b: [1, 2] }, undefined],
    ["a changed scalar", { a: 1 }, { a: 2 }, { a: 2 }],
    ["a removed key becomes null", { a: 1, b: 2 }, { a: 1 }, { b: null }],
    ["a new key", { a: 1 }, { a: 1, c: { d: 1 } }, { c: { d: 1 } }],
    ["nested objects patched key by key", { m: { x: 1, y: 2 } }, { m: { x: 1, y: 3 } }, { m: { y: 3 } }],
    ["lists are replaced whole", { l: [1, 2, 3] }, { l: [1, 3] }, { l: [1, 3] }],
    ["an object replaced by a scalar", { a: { b: 1 } }, { a: "s" }, { a: "s" }],
  ];
  for (const [name, from, to, want] of patches) it(`merge patch: ${name}`, () => assert.deepEqual(mergePatch(from, to), want));

  it("an existing object that differs only in what the apiserver assigned counts as the same", () => {
    const desired: KubeObject = withRestoreLabels({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a" }, data: { k: "v" } }, "r", "b");
    const inCluster: KubeObject = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", uid: "u", resourceVersion: "9", creationTimestamp: "t" }, data: { k: "v" }, status: {} };
    assert.deepEqual(existingObjectStep(inCluster, desired, ""), { step: "leave" });
  });
});
