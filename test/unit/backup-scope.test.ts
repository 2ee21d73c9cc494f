// Which dependencies a Velero backup takes in by its own filters (so restore-order need not name them again).
import assert from "node:assert/strict";
import { backupScope } from "../../src/actions/backup-scope.js";

const configMap = { group: "", resource: "configmaps", namespace: "shop", name: "web-config" };
const deployment = { group: "apps", resource: "deployments", namespace: "shop", name: "web" };
const priorityClass = { group: "scheduling.k8s.io", resource: "priorityclasses", namespace: "", name: "business-critical" };

const cases: { spec: Record<string, unknown>; id: typeof configMap; covered: boolean; why: string }[] = [
  { spec: {}, id: configMap, covered: true, why: "no filters: every namespaced object" },
  { spec: { includedNamespaces: ["*"] }, id: configMap, covered: true, why: "every namespace" },
  { spec: { includedNamespaces: ["shop"] }, id: configMap, covered: true, why: "its namespace" },
  { spec: { includedNamespaces: ["frontend"] }, id: configMap, covered: false, why: "another namespace" },
  { spec: { includedNamespaces: ["sho*"] }, id: configMap, covered: false, why: "a pattern is not decided here" },
  { spec: { excludedNamespaces: ["shop"] }, id: configMap, covered: false, why: "its namespace excluded" },
  { spec: { excludedNamespaces: ["kube-*"] }, id: configMap, covered: false, why: "an exclusion pattern is not decided here" },
  { spec: { includedResources: ["configmaps"] }, id: configMap, covered: true, why: "its resource" },
  { spec: { includedResources: ["secrets"] }, id: configMap, covered: false, why: "other resources only" },
  { spec: { excludedResources: ["configmaps"] }, id: configMap, covered: false, why: "its resource excluded" },
  { spec: { includedResources: ["deployments.apps"] }, id: deployment, covered: true, why: "resource.group" },
  { spec: { includedResources: ["deployments"] }, id: deployment, covered: false, why: "an unqualified name is not decided here" },
  { spec: { includedNamespaceScopedResources: ["secrets"] }, id: configMap, covered: false, why: "new-style filters too" },
  { spec: { excludedNamespaceScopedResources: ["*"] }, id: configMap, covered: false, why: "new-style exclusion" },
  { spec: { labelSelector: { matchLabels: { app: "web" } } }, id: configMap, covered: false, why: "a label selector may leave it out" },
  { spec: { orLabelSelectors: [{ matchLabels: { app: "web" } }] }, id: configMap, covered: false, why: "or-selectors too" },
  { spec: { resourcePolicy: { kind: "configmap", name: "policy" } }, id: configMap, covered: false, why: "a resource policy may leave it out" },
  { spec: {}, id: priorityClass, covered: false, why: "cluster-scoped: Velero takes those in as related items only" },
  { spec: { includeClusterResources: true }, id: priorityClass, covered: true, why: "cluster resources asked for" },
  { spec: { includeClusterResources: true, excludedClusterScopedResources: ["priorityclasses.scheduling.k8s.io"] }, id: priorityClass, covered: false, why: "cluster-scoped exclusion" },
];

describe("which dependencies a Velero backup takes in by itself", () => {
  for (const c of cases) {
    it(`${c.covered ? "covered" : "not covered"}: ${c.why} (${JSON.stringify(c.spec)})`, () => {
      assert.equal(backupScope({ apiVersion: "velero.io/v1", kind: "Backup", spec: c.spec }).covers(c.id), c.covered);
    });
  }
});
