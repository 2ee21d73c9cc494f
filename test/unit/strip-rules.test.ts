// Every built-in stripping rule, by example: what it removes, and where it must leave things alone.
import assert from "node:assert/strict";
import { BUILTIN_STRIP_RULES } from "../../src/manifest/strip-rules.js";
import { DEFAULT_STRIP_POLICY } from "../../src/manifest/strip-config.js";
import { stripObject, type StripResult } from "../../src/manifest/strip.js";
import type { KubeObject } from "../../src/manifest/object.js";
import type { RestoreSettings, Stage } from "../../src/manifest/strip-rule.js";

const exercised = new Set<string>();

function strip(obj: KubeObject, stage: Stage, extra: { restore?: RestoreSettings; itemFromBackup?: KubeObject } = {}): StripResult {
  const result = stripObject(obj, DEFAULT_STRIP_POLICY, { stage, ...extra });
  for (const r of result.removed) exercised.add(r.rule);
  if (result.skippedBy) exercised.add(result.skippedBy);
  return result;
}

function service(spec: Record<string, unknown>, annotations: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web", namespace: "shop", uid: "u-1", resourceVersion: "812", annotations },
    spec,
    status: { loadBalancer: { ingress: [{ ip: "203.0.113.7" }] } },
  };
}

describe("built-in stripping rules", () => {
  describe("server-managed-metadata", () => {
    it("drops resourceVersion, selfLink and generation at every stage", () => {
      for (const stage of ["backup", "restore", "export"] as const) {
        const out = strip({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", resourceVersion: "7", generation: 2, selfLink: "/x" } }, stage).object;
        assert.deepEqual(out.metadata, { name: "a" }, stage);
      }
    });
  });

  describe("object-identity", () => {
    const cm: KubeObject = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: "a",
        namespace: "n",
        uid: "u",
        creationTimestamp: "2026-01-01T00:00:00Z",
        generateName: "a-",
        ownerReferences: [{ apiVersion: "v1", kind: "X", name: "o", uid: "p" }],
        managedFields: [{ manager: "kubectl" }],
      },
    };
    it("removes identity and ownership in exports", () => {
      assert.deepEqual(strip(cm, "export").object.metadata, { name: "a", namespace: "n" });
    });
    it("keeps them in the backup and in Velero restores (Velero re-applies managedFields from the item)", () => {
      for (const stage of ["backup", "restore"] as const) {
        const meta = stripObject(cm, DEFAULT_STRIP_POLICY, { stage }).object.metadata;
        assert.equal(meta.uid, "u", stage);
        assert.deepEqual(meta.managedFields, [{ manager: "kubectl" }], stage);
      }
    });
  });

  describe("status and recomputed-status", () => {
    it("keeps Pod, Job, PV and PVC status in the backup: Velero's restore reads it", () => {
      for (const [apiVersion, kind] of [["v1", "Pod"], ["batch/v1", "Job"], ["v1", "PersistentVolume"], ["v1", "PersistentVolumeClaim"]] as const) {
        const out = strip({ apiVersion, kind, metadata: { name: "x" }, status: { phase: "Bound" } }, "backup").object;
        assert.deepEqual(out.status, { phase: "Bound" }, kind);
      }
    });
    it("drops recomputed status of workloads in the backup", () => {
      const out = strip({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d" }, spec: {}, status: { replicas: 3 } }, "backup").object;
      assert.equal(out.status, undefined);
    });
    it("drops status on restore unless the Restore asks Velero to restore it", () => {
      const widget: KubeObject = { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" }, status: { ready: true } };
      assert.equal(strip(widget, "restore").object.status, undefined);
      assert.deepEqual(strip(widget, "restore", { restore: { restoreStatusResources: ["widgets.example.com"] } }).object.status, { ready: true });
      assert.deepEqual(strip(widget, "restore", { restore: { restoreStatusResources: ["*"] } }).object.status, { ready: true });
      assert.equal(
        strip(widget, "restore", { restore: { restoreStatusResources: ["*"], restoreStatusExcludedResources: ["widgets.example.com"] } }).object.status,
        undefined,
      );
    });
  });

  describe("service-cluster-ip", () => {
    it("removes an allocated clusterIP at backup, restore and export", () => {
      for (const stage of ["backup", "restore", "export"] as const) {
        const out = strip(service({ type: "ClusterIP", clusterIP: "10.96.12.4", clusterIPs: ["10.96.12.4"], ports: [{ port: 80 }] }), stage).object;
        assert.equal((out.spec as Record<string, unknown>).clusterIP, undefined, stage);
        assert.equal((out.spec as Record<string, unknown>).clusterIPs, undefined, stage);
      }
    });
    it("keeps clusterIP: None, which makes a Service headless", () => {
      const out = strip(service({ clusterIP: "None", clusterIPs: ["None"], ports: [{ port: 80 }] }), "export").object;
      assert.equal((out.spec as Record<string, unknown>).clusterIP, "None");
      assert.deepEqual((out.spec as Record<string, unknown>).clusterIPs, ["None"]);
    });
  });

  describe("service-node-ports and service-health-check-node-port", () => {
    const lb = () =>
      service({
        type: "LoadBalancer",
        externalTrafficPolicy: "Local",
        healthCheckNodePort: 32000,
        ports: [
          { name: "http", port: 80, nodePort: 30080, protocol: "TCP" },
          { name: "https", port: 443, nodePort: 30443, protocol: "TCP" },
        ],
      });
    it("keeps nodePorts in the backup (Velero reads them for --preserve-nodeports)", () => {
      const spec = strip(lb(), "backup").object.spec as Record<string, unknown>;
      assert.equal(spec.healthCheckNodePort, 32000);
      assert.deepEqual((spec.ports as Record<string, unknown>[]).map((p) => p.nodePort), [30080, 30443]);
    });
    it("removes allocated nodePorts and the health check port on restore", () => {
      const spec = strip(lb(), "restore").object.spec as Record<string, unknown>;
      assert.equal(spec.healthCheckNodePort, undefined);
      assert.deepEqual((spec.ports as Record<string, unknown>[]).map((p) => p.nodePort), [undefined, undefined]);
    });
    it("keeps nodePorts the user wrote in the applied manifest, as Velero does", () => {
      const applied = JSON.stringify({ spec: { ports: [{ name: "https", port: 443, nodePort: 30443 }] } });
      const item = lb();
      item.metadata.annotations = { "kubectl.kubernetes.io/last-applied-configuration": applied };
      const spec = strip(item, "restore", { itemFromBackup: item }).object.spec as Record<string, unknown>;
      assert.deepEqual((spec.ports as Record<string, unknown>[]).map((p) => p.nodePort), [undefined, 30443]);
    });
    it("without a last-applied manifest, keeps the nodePorts a field manager owns (server-side apply), as Velero does", () => {
      const item = lb();
      item.metadata.managedFields = [
        { manager: "kubectl", operation: "Apply", fieldsV1: { "f:spec": { "f:healthCheckNodePort": {}, "f:ports": { 'k:{"port":443,"protocol":"TCP"}': { "f:nodePort": {}, "f:port": {} } } } } },
      ];
      const spec = strip(item, "restore", { itemFromBackup: item }).object.spec as Record<string, unknown>;
      assert.equal(spec.healthCheckNodePort, 32000);
      assert.deepEqual((spec.ports as Record<string, unknown>[]).map((p) => p.nodePort), [undefined, 30443]);
    });
    it("keeps every nodePort when the Restore preserves them", () => {
      const spec = strip(lb(), "restore", { restore: { preserveNodePorts: true } }).object.spec as Record<string, unknown>;
      assert.equal(spec.healthCheckNodePort, 32000);
      assert.deepEqual((spec.ports as Record<string, unknown>[]).map((p) => p.nodePort), [30080, 30443]);
    });
    it("a damaged last-applied annotation means nothing was explicit, not a failed item", () => {
      const item = lb();
      item.metadata.annotations = { "kubectl.kubernetes.io/last-applied-configuration": "{not json" };
      const spec = strip(item, "restore").object.spec as Record<string, unknown>;
      assert.deepEqual((spec.ports as Record<string, unknown>[]).map((p) => p.nodePort), [undefined, undefined]);
    });
  });

  describe("persistent volumes and claims", () => {
    const pvc = (): KubeObject => ({
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: {
        name: "data",
        namespace: "db",
        annotations: {
          "pv.kubernetes.io/bind-completed": "yes",
          "pv.kubernetes.io/bound-by-controller": "yes",
          "volume.kubernetes.io/selected-node": "node-a",
          "volume.kubernetes.io/storage-provisioner": "rancher.io/local-path",
        },
      },
      spec: { volumeName: "pvc-123", storageClassName: "standard", accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
      status: { phase: "Bound" },
    });
    it("keeps binding information in the backup", () => {
      const out = strip(pvc(), "backup").object;
      assert.equal(out.metadata.annotations?.["pv.kubernetes.io/bind-completed"], "yes");
      assert.equal(out.metadata.annotations?.["volume.kubernetes.io/selected-node"], "node-a");
      assert.equal((out.spec as Record<string, unknown>).volumeName, "pvc-123");
    });
    it("removes bind annotations and the selected node on restore, keeping volumeName", () => {
      const out = strip(pvc(), "restore", { itemFromBackup: pvc() }).object;
      assert.deepEqual(out.metadata.annotations, { "volume.kubernetes.io/storage-provisioner": "rancher.io/local-path" });
      assert.equal((out.spec as Record<string, unknown>).volumeName, "pvc-123");
    });
    it("leaves a selected node that Velero's change-pvc-node-selector action mapped", () => {
      const mapped = pvc();
      mapped.metadata.annotations!["volume.kubernetes.io/selected-node"] = "node-b";
      const out = strip(mapped, "restore", { itemFromBackup: pvc() }).object;
      assert.equal(out.metadata.annotations?.["volume.kubernetes.io/selected-node"], "node-b");
    });
    it("drops the claim's old uid from a volume's claimRef, keeping namespace and name", () => {
      const pv: KubeObject = {
        apiVersion: "v1",
        kind: "PersistentVolume",
        metadata: { name: "pvc-123", annotations: { "pv.kubernetes.io/bound-by-controller": "yes", "pv.kubernetes.io/provisioned-by": "x" } },
        spec: { claimRef: { kind: "PersistentVolumeClaim", namespace: "db", name: "data", uid: "c-1", resourceVersion: "9" } },
      };
      const out = strip(pv, "restore").object;
      assert.deepEqual((out.spec as Record<string, unknown>).claimRef, { kind: "PersistentVolumeClaim", namespace: "db", name: "data" });
      assert.deepEqual(out.metadata.annotations, { "pv.kubernetes.io/provisioned-by": "x" });
      assert.equal((strip(pv, "backup").object.spec as { claimRef: { uid: string } }).claimRef.uid, "c-1");
    });
  });

  describe("pods", () => {
    const pod = (): KubeObject => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "web-1", namespace: "shop" },
      spec: {
        nodeName: "node-a",
        serviceAccountName: "web",
        priorityClassName: "high",
        priority: 1000,
        runtimeClassName: "gvisor",
        overhead: { cpu: "250m" },
        containers: [
          {
            name: "app",
            volumeMounts: [
              { name: "data", mountPath: "/data" },
              { name: "kube-api-access-x7k2p", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true },
              { name: "web-token-abcde", mountPath: "/legacy" },
            ],
          },
        ],
        initContainers: [{ name: "init", volumeMounts: [{ name: "kube-api-access-x7k2p", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount" }] }],
        volumes: [
          { name: "data", persistentVolumeClaim: { claimName: "data" } },
          { name: "kube-api-access-x7k2p", projected: { sources: [{ serviceAccountToken: { path: "token", expirationSeconds: 3607 } }, { configMap: { name: "kube-root-ca.crt" } }] } },
          { name: "web-token-abcde", secret: { secretName: "web-token-abcde" } },
        ],
      },
      status: { phase: "Running" },
    });
    it("keeps the pod as is in the backup (pod volume backups read node and volumes)", () => {
      const out = strip(pod(), "backup").object;
      assert.deepEqual(out.spec, pod().spec);
      assert.deepEqual(out.status, { phase: "Running" });
    });
    it("unpins the node, drops injected token volumes and admission-set values on restore", () => {
      const spec = strip(pod(), "restore").object.spec as Record<string, unknown> & { containers: { volumeMounts: unknown[] }[]; initContainers: { volumeMounts: unknown[] }[] };
      assert.equal(spec.nodeName, undefined);
      assert.equal(spec.priority, undefined);
      assert.equal(spec.overhead, undefined);
      assert.equal(spec.priorityClassName, "high");
      assert.deepEqual(spec.volumes, [{ name: "data", persistentVolumeClaim: { claimName: "data" } }]);
      assert.deepEqual(spec.containers[0]!.volumeMounts, [{ name: "data", mountPath: "/data" }]);
      assert.deepEqual(spec.initContainers[0]!.volumeMounts, []);
    });
    it("keeps a user's own projected token volume that admission did not inject", () => {
      const p = pod();
      (p.spec as { volumes: unknown[] }).volumes = [{ name: "vault-token", projected: { sources: [{ serviceAccountToken: { audience: "vault", path: "t" } }] } }];
      const spec = strip(p, "restore").object.spec as { volumes: unknown[] };
      assert.equal(spec.volumes.length, 1);
    });
    it("keeps spec.priority when no priorityClassName resolves it", () => {
      const p = pod();
      delete (p.spec as Record<string, unknown>).priorityClassName;
      assert.equal((strip(p, "restore").object.spec as Record<string, unknown>).priority, 1000);
    });
  });

  describe("job-controller-uid", () => {
    const job = (manualSelector?: boolean): KubeObject => ({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: "migrate", namespace: "shop", labels: { app: "migrate" } },
      spec: {
        ...(manualSelector !== undefined ? { manualSelector } : {}),
        selector: { matchLabels: { "batch.kubernetes.io/controller-uid": "6a1e" } },
        template: {
          metadata: { labels: { "batch.kubernetes.io/controller-uid": "6a1e", "controller-uid": "6a1e", "batch.kubernetes.io/job-name": "migrate", "job-name": "migrate", app: "migrate" } },
          spec: { restartPolicy: "Never", containers: [{ name: "m", image: "busybox" }] },
        },
      },
      status: { succeeded: 1, completionTime: "2026-01-01T00:00:00Z" },
    });
    it("drops the generated selector and uid labels at backup and restore; keeps status at backup", () => {
      for (const stage of ["backup", "restore"] as const) {
        const out = strip(job(), stage).object as KubeObject & { spec: { selector?: unknown; template: { metadata: { labels: Record<string, string> } } } };
        assert.equal(out.spec.selector, undefined, stage);
        assert.deepEqual(out.spec.template.metadata.labels, { "batch.kubernetes.io/job-name": "migrate", "job-name": "migrate", app: "migrate" }, stage);
      }
      assert.ok(strip(job(), "backup").object.status);
    });
    it("leaves a manual selector alone", () => {
      const out = strip(job(true), "restore").object as KubeObject & { spec: { selector?: unknown } };
      assert.ok(out.spec.selector);
    });
  });

  describe("annotations written by controllers and kubectl", () => {
    it("drops deployment.kubernetes.io/revision from Deployments but not from ReplicaSets", () => {
      const d = strip({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d", annotations: { "deployment.kubernetes.io/revision": "4" } } }, "backup");
      assert.equal(d.object.metadata.annotations, undefined, "an emptied annotations map goes too");
      const rs = strip({ apiVersion: "apps/v1", kind: "ReplicaSet", metadata: { name: "r", annotations: { "deployment.kubernetes.io/revision": "4" } } }, "export");
      assert.deepEqual(rs.object.metadata.annotations, { "deployment.kubernetes.io/revision": "4" });
    });
    it("drops the endpoints controller's trigger time", () => {
      const e = strip({ apiVersion: "v1", kind: "Endpoints", metadata: { name: "e", annotations: { "endpoints.kubernetes.io/last-change-trigger-time": "2026-01-01T00:00:00Z" } } }, "backup");
      assert.equal(e.object.metadata.annotations, undefined);
    });
    it("drops twinsnap's own restore record once restored or exported, keeps it in the backup", () => {
      const cm: KubeObject = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", annotations: { "twinsnap.dev/restore-after": "[]" } } };
      assert.deepEqual(strip(cm, "backup").object.metadata.annotations, { "twinsnap.dev/restore-after": "[]" });
      assert.equal(strip(cm, "restore").object.metadata.annotations, undefined);
    });
    it("drops last-applied-configuration on restore and export, never at backup", () => {
      const cm: KubeObject = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{}" } } };
      assert.deepEqual(strip(cm, "backup").object.metadata.annotations, { "kubectl.kubernetes.io/last-applied-configuration": "{}" });
      assert.equal(strip(cm, "restore").object.metadata.annotations, undefined);
      assert.equal(strip(cm, "export").object.metadata.annotations, undefined);
      const empty: KubeObject = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", annotations: {} } };
      assert.deepEqual(strip(empty, "export").object.metadata.annotations, {}, "a map that was empty before stays");
    });
  });

  describe("service account tokens", () => {
    const tokenSecret = (name: string): KubeObject => ({
      apiVersion: "v1",
      kind: "Secret",
      type: "kubernetes.io/service-account-token",
      metadata: { name, namespace: "ci", annotations: { "kubernetes.io/service-account.name": "builder", "kubernetes.io/service-account.uid": "sa-uid" } },
      data: { token: "ZXlK", "ca.crt": "LS0t", namespace: "Y2k=" },
    });
    it("skips token Secrets the source cluster generated", () => {
      const r = strip(tokenSecret("builder-token-x9f2k"), "restore");
      assert.equal(r.skippedBy, "service-account-token-secret");
      assert.equal(r.object.kind, "Secret", "a skipped item is still a whole item (Velero requires it)");
    });
    it("restores a token Secret someone created on purpose, without the old token", () => {
      const r = strip(tokenSecret("builder-long-lived"), "restore");
      assert.equal(r.skippedBy, undefined);
      assert.equal(r.object.data, undefined);
      assert.deepEqual(r.object.metadata.annotations, { "kubernetes.io/service-account.name": "builder" });
    });
    it("keeps token Secrets whole in the backup", () => {
      assert.deepEqual(strip(tokenSecret("builder-token-x9f2k"), "backup").object.data, tokenSecret("x").data);
    });
    it("drops a ServiceAccount's references to generated tokens", () => {
      const sa: KubeObject = {
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name: "builder", namespace: "ci" },
        secrets: [{ name: "builder-token-x9f2k" }, { name: "builder-dockercfg" }],
      };
      assert.deepEqual(strip(sa, "restore").object.secrets, [{ name: "builder-dockercfg" }]);
    });
    it("skips the cluster's root CA ConfigMap, which the target publishes itself", () => {
      assert.equal(strip({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "kube-root-ca.crt", namespace: "a" } }, "export").skippedBy, "cluster-root-ca");
    });
  });

  describe("preserve annotation and exemptions", () => {
    it("keeps what twinsnap.dev/preserve names, by rule or by field path", () => {
      const svc = service({ type: "NodePort", clusterIP: "10.0.0.1", ports: [{ port: 80, nodePort: 30080 }] }, { "twinsnap.dev/preserve": "spec.ports, status" });
      const out = strip(svc, "restore").object;
      assert.deepEqual((out.spec as { ports: unknown[] }).ports, [{ port: 80, nodePort: 30080 }]);
      assert.equal((out.spec as Record<string, unknown>).clusterIP, undefined);
      assert.ok(out.status);
      const byRule = strip(service({ clusterIP: "10.0.0.1" }, { "twinsnap.dev/preserve": "service-cluster-ip" }), "backup").object;
      assert.equal((byRule.spec as Record<string, unknown>).clusterIP, "10.0.0.1");
    });
    it("never modifies its input", () => {
      const svc = service({ clusterIP: "10.0.0.1", ports: [{ port: 80, nodePort: 30080 }] });
      const before = structuredClone(svc);
      strip(svc, "export");
      assert.deepEqual(svc, before);
    });
  });

  after(() => {
    // Each rule above is proved by an example; this catches a new rule added without one.
    const untested = BUILTIN_STRIP_RULES.map((r) => r.name).filter((n) => !exercised.has(n));
    assert.deepEqual(untested, [], `rules without a test that shows them acting: ${untested.join(", ")}`);
  });
});
