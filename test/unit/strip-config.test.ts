import assert from "node:assert/strict";
import { backupSafetyProblems, buildStripPolicy, RulesConfigError } from "../../src/manifest/strip-config.js";
import { parseRulesConfig } from "../../src/manifest/rules-config.js";
import { BUILTIN_STRIP_RULES } from "../../src/manifest/strip-rules.js";
import { stripObject } from "../../src/manifest/strip.js";

describe("stripping configuration", () => {
  it("no built-in rule removes at backup time anything Velero's restore reads", () => {
    for (const rule of BUILTIN_STRIP_RULES) assert.deepEqual(backupSafetyProblems(rule), [], rule.name);
  });

  it("adds rules, disables rules and exempts objects", () => {
    const config = parseRulesConfig(
      `
disableRules: [service-cluster-ip]
exempt:
  objects: [{ kind: ConfigMap, namespace: legacy, name: frozen }]
rules:
  - name: widget-runtime-id
    kinds: [example.com/Widget]
    stages: [backup, restore, export]
    remove: [spec.runtimeId, "metadata.annotations['example.com/last-sync']"]
    when: { path: spec.managed, equals: true }
    why: assigned by the operator at runtime
options:
  preserveNodePorts: true
`,
      "test.yaml",
    );
    const policy = buildStripPolicy(config);
    assert.ok(!policy.rules.some((r) => r.name === "service-cluster-ip"));
    assert.equal(policy.rules.at(-1)?.name, "widget-runtime-id");
    assert.equal(policy.options.preserveNodePorts, true);

    const widget = { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w", annotations: { "example.com/last-sync": "x" } }, spec: { managed: true, runtimeId: "r-1" } };
    assert.deepEqual(stripObject(widget, policy, { stage: "backup" }).object.spec, { managed: true });
    const unmanaged = { ...widget, spec: { managed: false, runtimeId: "r-1" } };
    assert.deepEqual(stripObject(unmanaged, policy, { stage: "backup" }).object.spec, { managed: false, runtimeId: "r-1" });

    const frozen = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "frozen", namespace: "legacy", resourceVersion: "3" } };
    assert.equal(stripObject(frozen, policy, { stage: "export" }).object.metadata.resourceVersion, "3");
  });

  it("reports every problem with its place", () => {
    const text = `
rules:
  - name: Bad Name
    kinds: Pod
    remove: ["spec..x"]
    stages: [later]
  - { name: ok-rule, kinds: [Pod], remove: [spec.x], colour: red }
disableRules: [no-such-rule]
options: { preserveNodePort: true }
extra: 1
`;
    let caught: RulesConfigError | undefined;
    try {
      buildStripPolicy(parseRulesConfig(text, "cm.yaml"));
    } catch (e) {
      caught = e as RulesConfigError;
    }
    assert.ok(caught instanceof RulesConfigError);
    const all = caught.problems.join("\n");
    for (const expected of [/unknown key "extra"/, /rules\[0\]\.name/, /rules\[0\]\.kinds must be a list/, /spec\.\.x/, /"later" is not one of/, /rules\[1\]: unknown key "colour"/, /options\.preserveNodePort/]) {
      assert.match(all, expected);
    }
    assert.match(caught.message, /cm\.yaml/);
  });

  it("refuses a rule that would strip at backup time what Velero reads, and says what to do instead", () => {
    const config = parseRulesConfig("rules:\n  - { name: no-status, kinds: [Pod], stages: [backup], remove: [status] }\n", "x");
    assert.throws(() => buildStripPolicy(config, "x"), /no-status.*removes status at backup time.*use stages \[restore, export\]/s);
    const velero = parseRulesConfig("rules:\n  - { name: v, kinds: '*', stages: [backup], remove: [\"metadata.annotations['velero.io/restore-name']\"] }\n", "x");
    assert.throws(() => buildStripPolicy(velero, "x"), /Velero's own annotations/);
    const fine = parseRulesConfig("rules:\n  - { name: no-status, kinds: [Pod], stages: [restore], remove: [status] }\n", "x");
    assert.doesNotThrow(() => buildStripPolicy(fine, "x"));
  });

  it("refuses an unknown rule name in disableRules (a typo would silently change backups)", () => {
    assert.throws(() => buildStripPolicy({ disableRules: ["service-clusterip"] }), /no built-in rule is named "service-clusterip"/);
  });

  it("an empty document is no configuration; invalid YAML is an error", () => {
    assert.deepEqual(parseRulesConfig("", "x"), {});
    assert.throws(() => parseRulesConfig("rules: [", "x"), /not valid YAML/);
  });
});
