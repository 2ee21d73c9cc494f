// User dependency rules: custom resources that need other custom resources.
import assert from "node:assert/strict";
import { buildRules, parseRulesConfig } from "../../src/manifest/rules-config.js";
import { restoreOrder } from "../../src/manifest/restore-order.js";
import { formatKey, keyOf } from "../../src/manifest/object-key.js";
import { RulesConfigError } from "../../src/manifest/strip-config.js";
import type { KubeObject } from "../../src/manifest/object.js";

const CONFIG = `
dependencies:
  - name: app-needs-database
    kinds: [example.com/App]
    needs:
      - { kind: warehouse.example.com/Database, name: spec.databaseRef, readiness: exists }
      - { kind: example.com/Cluster, name: spec.clusterRef, clusterScoped: true }
disableDependencyRules: [autoscaler-needs-target]
`;

const app: KubeObject = { apiVersion: "example.com/v1", kind: "App", metadata: { name: "shop", namespace: "prod" }, spec: { databaseRef: "orders", clusterRef: "east" } };
const db: KubeObject = { apiVersion: "warehouse.example.com/v1", kind: "Database", metadata: { name: "orders", namespace: "prod" } };
const cluster: KubeObject = { apiVersion: "example.com/v1", kind: "Cluster", metadata: { name: "east" } };

describe("dependency rules from configuration", () => {
  it("orders a custom resource after the custom resources it names", () => {
    const rules = buildRules(parseRulesConfig(CONFIG, "test.yaml"));
    const order = restoreOrder([app, db, cluster], rules.dependencies).order.map((o) => formatKey(keyOf(o.object)));
    // Without the rule, "App" sorts before "Database" (same phase, unknown kinds, by name).
    assert.ok(order.indexOf("warehouse.example.com/Database prod/orders") < order.indexOf("example.com/App prod/shop"), order.join(", "));
    const withoutRule = restoreOrder([app, db, cluster]).order.map((o) => formatKey(keyOf(o.object)));
    assert.ok(withoutRule.indexOf("example.com/App prod/shop") < withoutRule.indexOf("warehouse.example.com/Database prod/orders"));
    assert.ok(!rules.dependencies.some((r) => r.name === "autoscaler-needs-target"));
  });

  it("reports mistakes with their place, together with stripping rule mistakes", () => {
    const bad = `
rules: [{ name: x, kinds: [Pod], remove: ["a..b"] }]
dependencies:
  - name: workload-needs-pod-references
    kinds: Pod
    needs: [{ kind: ConfigMap }, { kind: Secret, name: "spec..x", readiness: soon }]
disableDependencyRules: [nope]
`;
    let caught: RulesConfigError | undefined;
    try {
      parseRulesConfig(bad, "cm.yaml");
    } catch (e) {
      caught = e as RulesConfigError;
    }
    assert.ok(caught instanceof RulesConfigError);
    const all = caught.problems.join("\n");
    for (const expected of [/rules\[0\]\.remove/, /built-in dependency rule/, /dependencies\[0\]\.kinds/, /needs\[0\] needs kind .* and name/, /needs\[1\].*spec\.\.x/, /readiness must be one of/, /no built-in dependency rule is named "nope"/]) {
      assert.match(all, expected);
    }
  });
});
