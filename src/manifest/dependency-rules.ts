// twinsnap's built-in dependency rules: what each kind needs to exist before it is created.
// One table, read top to bottom; the functions below it only read references out of specs.
import { getAtPath } from "./field-path.js";
import { groupOf, isPlainObject, type KubeObject } from "./object.js";
import type { DependencyContext, DependencyRef, DependencyRule, Readiness } from "./dependency-rule.js";

/** Groups served by Kubernetes itself; an object of any other group is a custom resource (or aggregated). */
export const BUILTIN_GROUPS = new Set([
  "", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io", "storage.k8s.io",
  "apiextensions.k8s.io", "apiregistration.k8s.io", "admissionregistration.k8s.io", "scheduling.k8s.io", "node.k8s.io",
  "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io", "certificates.k8s.io", "flowcontrol.apiserver.k8s.io",
  "resource.k8s.io", "internal.apiserver.k8s.io", "storagemigration.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
]);

/** Where each workload kind keeps its pod spec. */
export const POD_SPEC_PATHS: Readonly<Record<string, string>> = {
  Pod: "spec",
  PodTemplate: "template.spec",
  ReplicationController: "spec.template.spec",
  "apps/Deployment": "spec.template.spec",
  "apps/ReplicaSet": "spec.template.spec",
  "apps/StatefulSet": "spec.template.spec",
  "apps/DaemonSet": "spec.template.spec",
  "batch/Job": "spec.template.spec",
  "batch/CronJob": "spec.jobTemplate.spec.template.spec",
};

/** Priority classes every cluster has; they are never restored, so never waited for. */
const SYSTEM_PRIORITY_CLASSES = new Set(["system-cluster-critical", "system-node-critical"]);

export const BUILTIN_DEPENDENCY_RULES: readonly DependencyRule[] = [
  {
    name: "custom-resource-needs-crd",
    kinds: "*",
    needs: (obj, ctx) => {
      const group = groupOf(obj.apiVersion);
      if (BUILTIN_GROUPS.has(group)) return [];
      const crd = ctx.crdFor(group, obj.kind);
      return crd ? [ref("apiextensions.k8s.io", "CustomResourceDefinition", "", crd.metadata.name ?? "", "established")] : [];
    },
    why: "The apiserver refuses a custom resource until its CRD is Established (\"no matches for kind\").",
  },
  {
    name: "namespaced-needs-namespace",
    kinds: "*",
    needs: (obj) => (obj.metadata.namespace ? [ref("", "Namespace", "", obj.metadata.namespace, "active")] : []),
    why: "Objects cannot be created in a namespace that does not exist or is terminating.",
  },
  {
    name: "workload-needs-pod-references",
    kinds: Object.keys(POD_SPEC_PATHS),
    needs: (obj) => podSpecRefs(obj),
    why:
      "Admission refuses a Pod whose ServiceAccount is missing, and Pods crash-loop or stay Pending without their " +
      "ConfigMaps, Secrets, claims, PriorityClass or RuntimeClass; the same holds for every pod template.",
  },
  {
    name: "statefulset-needs-storage-classes",
    kinds: ["apps/StatefulSet"],
    needs: (obj) => {
      const templates = getAtPath(obj, "spec.volumeClaimTemplates");
      return (Array.isArray(templates) ? templates : []).flatMap((t) => storageClassRef(getAtPath(t, "spec.storageClassName")));
    },
    why: "Claims made from volumeClaimTemplates are provisioned through their StorageClass.",
  },
  {
    name: "claim-needs-class-and-volume",
    kinds: ["PersistentVolumeClaim"],
    needs: (obj) => [
      ...storageClassRef(getAtPath(obj, "spec.storageClassName")),
      ...named("", "PersistentVolume", "", getAtPath(obj, "spec.volumeName"), "exists"),
    ],
    why: "A claim binds to its volume (spec.volumeName) or is provisioned through its StorageClass.",
  },
  {
    name: "volume-needs-class",
    kinds: ["PersistentVolume"],
    needs: (obj) => storageClassRef(getAtPath(obj, "spec.storageClassName")),
    why: "A volume's StorageClass carries its reclaim and expansion behaviour.",
  },
  {
    name: "binding-needs-role-and-subjects",
    kinds: ["rbac.authorization.k8s.io/RoleBinding", "rbac.authorization.k8s.io/ClusterRoleBinding"],
    needs: (obj) => {
      const ns = obj.metadata.namespace ?? "";
      const roleKind = getAtPath(obj, "roleRef.kind");
      const roleName = getAtPath(obj, "roleRef.name");
      const role = typeof roleKind === "string" ? named("rbac.authorization.k8s.io", roleKind, roleKind === "Role" ? ns : "", roleName, "exists") : [];
      const subjects = getAtPath(obj, "subjects");
      const accounts = (Array.isArray(subjects) ? subjects : []).flatMap((s) =>
        isPlainObject(s) && s.kind === "ServiceAccount" ? named("", "ServiceAccount", typeof s.namespace === "string" ? s.namespace : ns, s.name, "exists") : [],
      );
      return [...role, ...accounts];
    },
    why: "A binding grants nothing until its Role exists; restoring the subjects first avoids a window of denied requests.",
  },
  {
    name: "ingress-needs-class-services-and-tls",
    kinds: ["networking.k8s.io/Ingress"],
    needs: (obj) => {
      const ns = obj.metadata.namespace ?? "";
      const services = new Set<string>();
      const backend = (b: unknown) => {
        const name = getAtPath(b, "service.name");
        if (typeof name === "string") services.add(name);
      };
      backend(getAtPath(obj, "spec.defaultBackend"));
      const rules = getAtPath(obj, "spec.rules");
      for (const rule of Array.isArray(rules) ? rules : []) {
        const paths = getAtPath(rule, "http.paths");
        for (const p of Array.isArray(paths) ? paths : []) backend(getAtPath(p, "backend"));
      }
      const tls = getAtPath(obj, "spec.tls");
      return [
        ...named("networking.k8s.io", "IngressClass", "", getAtPath(obj, "spec.ingressClassName"), "exists"),
        ...[...services].map((s) => ref("", "Service", ns, s, "exists")),
        ...(Array.isArray(tls) ? tls : []).flatMap((t) => named("", "Secret", ns, getAtPath(t, "secretName"), "exists")),
      ];
    },
    why: "An ingress controller reports errors for a missing class, backend Service or TLS Secret.",
  },
  {
    name: "webhook-needs-service",
    kinds: ["admissionregistration.k8s.io/ValidatingWebhookConfiguration", "admissionregistration.k8s.io/MutatingWebhookConfiguration"],
    needs: (obj) => {
      const hooks = getAtPath(obj, "webhooks");
      return (Array.isArray(hooks) ? hooks : []).flatMap((h) => serviceRef(getAtPath(h, "clientConfig.service")));
    },
    why:
      "A webhook calls its Service; the Service is backed up with it and restored before it. Nothing waits for the " +
      "Service to serve (its Pods may never start in the target): webhooks are created after every other item instead.",
  },
  {
    name: "apiservice-needs-service",
    kinds: ["apiregistration.k8s.io/APIService"],
    needs: (obj) => serviceRef(getAtPath(obj, "spec.service")),
    why: "An aggregated API calls its Service; the Service is backed up with it and restored before it, and the APIService comes after every other item.",
  },
  {
    name: "autoscaler-needs-target",
    kinds: ["autoscaling/HorizontalPodAutoscaler"],
    needs: (obj) => {
      const apiVersion = getAtPath(obj, "spec.scaleTargetRef.apiVersion");
      const kind = getAtPath(obj, "spec.scaleTargetRef.kind");
      if (typeof apiVersion !== "string" || typeof kind !== "string") return [];
      return named(groupOf(apiVersion), kind, obj.metadata.namespace ?? "", getAtPath(obj, "spec.scaleTargetRef.name"), "exists");
    },
    why: "An autoscaler reports FailedGetScale until its target exists.",
  },
  {
    name: "service-account-needs-pull-secrets",
    kinds: ["ServiceAccount"],
    needs: (obj) => {
      const pull = obj.imagePullSecrets;
      return (Array.isArray(pull) ? pull : []).flatMap((s) => named("", "Secret", obj.metadata.namespace ?? "", getAtPath(s, "name"), "exists"));
    },
    why: "Pods inherit the ServiceAccount's image pull Secrets when admission creates them.",
  },
  {
    name: "token-secret-needs-service-account",
    kinds: ["Secret"],
    needs: (obj) =>
      getAtPath(obj, "type") === "kubernetes.io/service-account-token"
        ? named("", "ServiceAccount", obj.metadata.namespace ?? "", obj.metadata.annotations?.["kubernetes.io/service-account.name"], "exists")
        : [],
    why: "The token controller deletes a token Secret whose ServiceAccount does not exist.",
  },
  {
    name: "endpoints-need-service",
    kinds: ["Endpoints", "discovery.k8s.io/EndpointSlice"],
    needs: (obj) => {
      const owner = obj.kind === "Endpoints" ? obj.metadata.name : obj.metadata.labels?.["kubernetes.io/service-name"];
      return named("", "Service", obj.metadata.namespace ?? "", owner, "exists");
    },
    why: "Endpoints of a Service without a selector belong to that Service.",
  },
];

// ---- reading references out of specs ----

function ref(group: string, kind: string, namespace: string, name: string, readiness: Readiness): DependencyRef {
  return { group, kind, namespace, name, readiness };
}

/** A reference if name is a non-empty string, else none. */
function named(group: string, kind: string, namespace: string, name: unknown, readiness: Readiness): DependencyRef[] {
  return typeof name === "string" && name !== "" ? [ref(group, kind, namespace, name, readiness)] : [];
}

function storageClassRef(name: unknown): DependencyRef[] {
  return named("storage.k8s.io", "StorageClass", "", name, "exists");
}

function serviceRef(service: unknown): DependencyRef[] {
  if (!isPlainObject(service)) return [];
  // "exists", not "serving": waiting for a backend that cannot serve yet only delays the restore (issue 12).
  return named("", "Service", typeof service.namespace === "string" ? service.namespace : "", service.name, "exists");
}

/** Everything a pod spec names: service account, config maps, secrets, claims, classes. */
export function podSpecRefs(obj: KubeObject): DependencyRef[] {
  const kind = obj.apiVersion.includes("/") ? `${groupOf(obj.apiVersion)}/${obj.kind}` : obj.kind;
  const path = POD_SPEC_PATHS[kind];
  const spec = path ? getAtPath(obj, path) : undefined;
  if (!isPlainObject(spec)) return [];
  const ns = obj.metadata.namespace ?? "";
  const out: DependencyRef[] = [];
  const secret = (n: unknown) => out.push(...named("", "Secret", ns, n, "exists"));
  const configMap = (n: unknown) => out.push(...named("", "ConfigMap", ns, n, "exists"));

  out.push(...named("", "ServiceAccount", ns, spec.serviceAccountName ?? spec.serviceAccount, "exists"));
  if (typeof spec.priorityClassName === "string" && !SYSTEM_PRIORITY_CLASSES.has(spec.priorityClassName)) {
    out.push(ref("scheduling.k8s.io", "PriorityClass", "", spec.priorityClassName, "exists"));
  }
  out.push(...named("node.k8s.io", "RuntimeClass", "", spec.runtimeClassName, "exists"));
  for (const s of Array.isArray(spec.imagePullSecrets) ? spec.imagePullSecrets : []) secret(getAtPath(s, "name"));

  for (const v of Array.isArray(spec.volumes) ? spec.volumes : []) {
    if (!isPlainObject(v)) continue;
    configMap(getAtPath(v, "configMap.name"));
    secret(getAtPath(v, "secret.secretName"));
    out.push(...named("", "PersistentVolumeClaim", ns, getAtPath(v, "persistentVolumeClaim.claimName"), "exists"));
    out.push(...storageClassRef(getAtPath(v, "ephemeral.volumeClaimTemplate.spec.storageClassName")));
    const sources = getAtPath(v, "projected.sources");
    for (const src of Array.isArray(sources) ? sources : []) {
      configMap(getAtPath(src, "configMap.name"));
      secret(getAtPath(src, "secret.name"));
    }
  }
  for (const list of ["initContainers", "containers", "ephemeralContainers"]) {
    const containers = spec[list];
    for (const c of Array.isArray(containers) ? containers : []) {
      for (const from of Array.isArray(getAtPath(c, "envFrom")) ? (getAtPath(c, "envFrom") as unknown[]) : []) {
        configMap(getAtPath(from, "configMapRef.name"));
        secret(getAtPath(from, "secretRef.name"));
      }
      for (const env of Array.isArray(getAtPath(c, "env")) ? (getAtPath(c, "env") as unknown[]) : []) {
        configMap(getAtPath(env, "valueFrom.configMapKeyRef.name"));
        secret(getAtPath(env, "valueFrom.secretKeyRef.name"));
      }
    }
  }
  return out;
}

export type { DependencyContext };
