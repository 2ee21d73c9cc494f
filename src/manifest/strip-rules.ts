// twinsnap's built-in stripping rules: one table, read top to bottom, applied in this order.
// Each rule says why it exists and at which stages it is safe (see Stage in strip-rule.ts).
// Backup-time rules are deliberately few: Velero reads the stored item again when it restores
// (Pod/Job completion, PV/PVC binding, pod volume backups, nodePort preservation, managedFields),
// so anything Velero's restore path reads stays in the backup and is removed at restore instead.
import { getAtPath } from "./field-path.js";
import { isPlainObject, type KubeObject } from "./object.js";
import type { StripContext, StripRule } from "./strip-rule.js";

const ann = (key: string) => `metadata.annotations['${key}']`;

export const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

/** The kinds whose status is observed state that controllers recompute, and that Velero never reads. */
const RECOMPUTED_STATUS_KINDS = [
  "apps/Deployment",
  "apps/ReplicaSet",
  "apps/StatefulSet",
  "apps/DaemonSet",
  "batch/CronJob",
  "autoscaling/HorizontalPodAutoscaler",
  "policy/PodDisruptionBudget",
  "Service",
  "networking.k8s.io/Ingress",
  "ReplicationController",
];

export const BUILTIN_STRIP_RULES: readonly StripRule[] = [
  {
    name: "server-managed-metadata",
    kinds: "*",
    stages: ["backup", "restore", "export"],
    remove: ["metadata.resourceVersion", "metadata.selfLink", "metadata.generation"],
    why:
      "Assigned by the source apiserver and meaningless anywhere else; a manifest that carries resourceVersion " +
      "is refused on create. No Velero restore path reads them (Velero resets them itself).",
    veleroAlso: "restore.go resetMetadata",
  },
  {
    name: "object-identity",
    kinds: "*",
    stages: ["export"],
    remove: [
      "metadata.uid",
      "metadata.creationTimestamp",
      "metadata.deletionTimestamp",
      "metadata.deletionGracePeriodSeconds",
      "metadata.generateName",
      "metadata.ownerReferences",
      "metadata.managedFields",
    ],
    why:
      "Identity and ownership in the source cluster. Kept in the backup: Velero re-applies managedFields from the " +
      "restored item after it creates the object (restore.go restoreItem), and uid and creationTimestamp tie a " +
      "backed-up object to the paired etcd snapshot and to Velero's logs. Velero's restore resets the rest itself " +
      "(resetMetadata), and a RestoreItemAction that removed managedFields would stop Velero re-applying them, so " +
      "only exports need this rule.",
    veleroAlso: "restore.go resetMetadata (managedFields are re-patched from the backup)",
  },
  {
    name: "status",
    kinds: "*",
    stages: ["restore", "export"],
    remove: ["status"],
    when: (obj, ctx) => !restoresStatusOf(obj, ctx),
    why:
      "Observed state of the source cluster; controllers in the target rebuild it. Honours Restore.spec.restoreStatus. " +
      "Not removed at backup for every kind: Velero reads Pod, Job, PV and PVC status when it restores.",
    veleroAlso: "restore.go resetStatus",
  },
  {
    name: "recomputed-status",
    kinds: RECOMPUTED_STATUS_KINDS,
    stages: ["backup"],
    remove: ["status"],
    why:
      "Status that controllers recompute from spec (replica counts, load balancer addresses, conditions). " +
      "Velero's restore never reads it, so the backup holds clean manifests for these kinds.",
  },
  {
    name: "service-cluster-ip",
    kinds: ["Service"],
    stages: ["backup", "restore", "export"],
    remove: ["spec.clusterIP", "spec.clusterIPs"],
    when: (obj) => getAtPath(obj, "spec.clusterIP") !== "None",
    why:
      "Allocated from the source cluster's service CIDR: in another cluster it may be outside the range or taken. " +
      "Headless Services (clusterIP: None) keep it, it is their meaning. Velero's restore removes it too, so " +
      "removing it at backup changes nothing Velero relies on.",
    veleroAlso: "velero.io/service",
  },
  {
    name: "service-node-ports",
    kinds: ["Service"],
    stages: ["restore", "export"],
    edit: removeAllocatedNodePorts,
    touches: ["spec.ports[*].nodePort"],
    when: (_obj, ctx) => !preservesNodePorts(ctx),
    why:
      "NodePorts the apiserver allocated collide in a cluster that already uses them. Ports the user chose are " +
      "kept, decided as Velero's service action decides (last-applied-configuration, else managed fields). Not " +
      "removed at backup: Velero's restore reads them for --preserve-nodeports.",
    veleroAlso: "velero.io/service",
  },
  {
    name: "service-health-check-node-port",
    kinds: ["Service"],
    stages: ["restore", "export"],
    remove: ["spec.healthCheckNodePort"],
    when: (obj, ctx) => !preservesNodePorts(ctx) && !explicitlyApplied(ctx, "spec.healthCheckNodePort"),
    why: "Allocated like a nodePort for externalTrafficPolicy: Local; collides the same way. Kept with --preserve-nodeports.",
    veleroAlso: "velero.io/service",
  },
  {
    name: "pvc-bind-annotations",
    kinds: ["PersistentVolumeClaim"],
    stages: ["restore", "export"],
    remove: [ann("pv.kubernetes.io/bind-completed"), ann("pv.kubernetes.io/bound-by-controller")],
    why:
      "Tell the PV controller that binding already happened in the source cluster; left in place, a restored " +
      "claim whose volume is re-provisioned is never bound. Kept in the backup as Velero stored them (its own PVC " +
      "restore action removes them too), so backups stay readable by every Velero restore path.",
    veleroAlso: "restore.go resetVolumeBindingInfo (for claims whose PV is restored)",
  },
  {
    name: "pvc-selected-node",
    kinds: ["PersistentVolumeClaim"],
    stages: ["restore", "export"],
    remove: [ann("volume.kubernetes.io/selected-node")],
    when: (obj, ctx) => !remappedByVelero(obj, ctx, ann("volume.kubernetes.io/selected-node")),
    why:
      "Names a node of the source cluster; a WaitForFirstConsumer claim pointing at a node that does not exist " +
      "never provisions. When Velero's change-pvc-node-selector action mapped it to a new node, the mapping wins.",
  },
  {
    name: "pv-claim-binding",
    kinds: ["PersistentVolume"],
    stages: ["restore", "export"],
    remove: ["spec.claimRef.uid", "spec.claimRef.resourceVersion", ann("pv.kubernetes.io/bound-by-controller")],
    why:
      "The claim's identity in the source cluster; the restored claim gets a new uid, so the volume binds by " +
      "namespace/name instead. The claimRef namespace and name stay (Velero reads them).",
    veleroAlso: "restore.go resetVolumeBindingInfo",
  },
  {
    name: "pod-node-name",
    kinds: ["Pod"],
    stages: ["restore", "export"],
    remove: ["spec.nodeName"],
    why:
      "Pins the Pod to a node of the source cluster. Kept in the backup, which records where the Pod ran; " +
      "Velero's own pod action removes it at restore too.",
    veleroAlso: "velero.io/pod",
  },
  {
    name: "pod-service-account-token-volumes",
    kinds: ["Pod"],
    stages: ["restore", "export"],
    edit: removeServiceAccountTokenVolumes,
    touches: ["spec.volumes", "spec.containers[*].volumeMounts", "spec.initContainers[*].volumeMounts"],
    why:
      "The token volume (kube-api-access-*, or a legacy <sa>-token-* Secret) is injected by admission in the " +
      "target cluster; the old one refers to a token that does not exist there and is refused as a duplicate.",
    veleroAlso: "velero.io/pod",
  },
  {
    name: "pod-priority",
    kinds: ["Pod"],
    stages: ["restore", "export"],
    remove: ["spec.priority"],
    when: (obj) => typeof getAtPath(obj, "spec.priorityClassName") === "string",
    why:
      "Resolved from priorityClassName by admission; a value that differs from the target's PriorityClass is refused.",
  },
  {
    name: "pod-overhead",
    kinds: ["Pod"],
    stages: ["restore", "export"],
    remove: ["spec.overhead"],
    when: (obj) => typeof getAtPath(obj, "spec.runtimeClassName") === "string",
    why: "Set from the RuntimeClass by admission; a value that differs from the target's RuntimeClass is refused.",
  },
  {
    name: "job-controller-uid",
    kinds: ["batch/Job"],
    stages: ["backup", "restore", "export"],
    remove: [
      "spec.selector",
      "spec.template.metadata.labels['controller-uid']",
      "spec.template.metadata.labels['batch.kubernetes.io/controller-uid']",
    ],
    when: (obj) => getAtPath(obj, "spec.manualSelector") !== true,
    why:
      "The generated selector names the Job's uid in the source cluster; the apiserver refuses a Job whose " +
      "selector it did not generate. Jobs with manualSelector: true keep theirs. Velero reads a Job's status " +
      "(completionTime), never its selector, so this is safe at backup.",
    veleroAlso: "velero.io/job",
  },
  {
    name: "deployment-revision",
    kinds: ["apps/Deployment"],
    stages: ["backup", "restore", "export"],
    remove: [ann("deployment.kubernetes.io/revision")],
    why:
      "Rollout counter of the source cluster; the Deployment controller sets it again. (Kept on ReplicaSets, " +
      "where it orders the rollout history.)",
  },
  {
    name: "endpoints-trigger-time",
    kinds: ["Endpoints"],
    stages: ["backup", "restore", "export"],
    remove: [ann("endpoints.kubernetes.io/last-change-trigger-time")],
    why: "A timestamp the endpoints controller writes for its own latency metric.",
  },
  {
    name: "service-account-token-secret",
    kinds: ["Secret"],
    stages: ["restore", "export"],
    skip: true,
    when: (obj) => isGeneratedServiceAccountToken(obj),
    why:
      "Legacy token Secrets generated by the source cluster's token controller (<sa>-token-xxxxx) hold a token " +
      "signed by the source cluster's key; the target generates its own when needed.",
  },
  {
    name: "service-account-token-data",
    kinds: ["Secret"],
    stages: ["restore", "export"],
    remove: ["data.token", "data['ca.crt']", "data.namespace", ann("kubernetes.io/service-account.uid")],
    when: (obj) => getAtPath(obj, "type") === "kubernetes.io/service-account-token" && !isGeneratedServiceAccountToken(obj),
    why:
      "A token Secret someone created on purpose is restored, but without the source cluster's token and " +
      "service account uid: the target's token controller fills them in for the target's service account.",
  },
  {
    name: "service-account-token-references",
    kinds: ["ServiceAccount"],
    stages: ["restore", "export"],
    edit: removeGeneratedTokenReferences,
    touches: ["secrets"],
    why: "References to the generated token Secrets that are not restored (see service-account-token-secret).",
    veleroAlso: "velero.io/service-account",
  },
  {
    name: "cluster-root-ca",
    kinds: ["ConfigMap"],
    stages: ["restore", "export"],
    skip: true,
    when: (obj) => obj.metadata.name === "kube-root-ca.crt",
    why: "Published in every namespace by the target cluster's controller with the target's own CA.",
  },
  {
    name: "twinsnap-restore-record",
    kinds: "*",
    stages: ["restore", "export"],
    remove: [ann("twinsnap.dev/restore-after")],
    why: "twinsnap's own record of an item's dependencies in the backup; it has served its purpose once restored.",
  },
  {
    name: "last-applied-configuration",
    kinds: "*",
    stages: ["restore", "export"],
    remove: [ann(LAST_APPLIED)],
    why:
      "A full copy of a past manifest, runtime fields included; kubectl writes it again on its next apply. " +
      "Kept in the backup: Velero's service action reads it to keep explicitly chosen nodePorts.",
  },
];

// ---- the few conditions and edits that a field path cannot express ----

function restoresStatusOf(obj: KubeObject, ctx: StripContext): boolean {
  const included = ctx.restore.restoreStatusResources ?? [];
  if (included.length === 0) return false;
  const excluded = ctx.restore.restoreStatusExcludedResources ?? [];
  const names = resourceNamesFor(obj);
  if (excluded.some((r) => names.has(r))) return false;
  return included.includes("*") || included.some((r) => names.has(r));
}

/** Names a user may write for an object's resource in a Restore: "Deployment", "deployments", "deployments.apps". */
function resourceNamesFor(obj: KubeObject): Set<string> {
  const kind = obj.kind.toLowerCase();
  const plural = kind.endsWith("s") ? `${kind}es` : kind.endsWith("y") ? `${kind.slice(0, -1)}ies` : `${kind}s`;
  const slash = obj.apiVersion.indexOf("/");
  const group = slash < 0 ? "" : obj.apiVersion.slice(0, slash);
  const names = new Set([kind, plural, obj.kind]);
  if (group) {
    names.add(`${plural}.${group}`);
    names.add(`${kind}.${group}`);
  }
  return names;
}

function preservesNodePorts(ctx: StripContext): boolean {
  return ctx.options.preserveNodePorts || ctx.restore.preserveNodePorts === true;
}

/** The manifest the user last applied, if kubectl recorded one. */
function lastApplied(ctx: StripContext): Record<string, unknown> | undefined {
  const source = ctx.itemFromBackup ?? ctx.original;
  const raw = source.metadata.annotations?.[LAST_APPLIED];
  if (typeof raw !== "string") return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    return isPlainObject(parsed) ? parsed : undefined;
  } catch {
    return undefined; // a damaged annotation means "nothing explicit", never a failed item
  }
}

/**
 * Whether the user chose a field, as Velero's service action decides it (pkg/restore/actions/service_action.go):
 * from the last-applied-configuration kubectl wrote, else from any field manager that owns it (server-side apply).
 */
function explicitlyApplied(ctx: StripContext, path: string): boolean {
  const applied = lastApplied(ctx);
  if (applied !== undefined) return getAtPath(applied, path) !== undefined;
  const fieldsPath = path.split(".").map((seg) => `['f:${seg}']`).join("");
  return managedFieldSets(ctx).some((fields) => getAtPath(fields, fieldsPath) !== undefined);
}

/** The fieldsV1 sets of the object's managed fields. */
function managedFieldSets(ctx: StripContext): unknown[] {
  const source = ctx.itemFromBackup ?? ctx.original;
  const entries = source.metadata.managedFields;
  return Array.isArray(entries) ? entries.map((e) => (isPlainObject(e) ? e.fieldsV1 : undefined)).filter((f) => f !== undefined) : [];
}

function removeAllocatedNodePorts(obj: KubeObject, ctx: StripContext): string[] {
  const ports = getAtPath(obj, "spec.ports");
  if (!Array.isArray(ports) || getAtPath(obj, "spec.type") === "ExternalName") return [];
  const isExplicit = explicitNodePorts(ctx);
  const removed: string[] = [];
  ports.forEach((p, i) => {
    if (isPlainObject(p) && p.nodePort !== undefined && !isExplicit(p)) {
      delete p.nodePort;
      removed.push(`spec.ports[${i}].nodePort`);
    }
  });
  return removed;
}

/**
 * Velero's rule for which nodePorts were chosen rather than allocated: with a last-applied-configuration, named
 * ports by name and unnamed ports by value; without one, ports whose nodePort a field manager owns.
 */
function explicitNodePorts(ctx: StripContext): (port: Record<string, unknown>) => boolean {
  const applied = lastApplied(ctx);
  if (applied !== undefined) {
    const names = new Set<string>();
    const values = new Set<number>();
    const appliedPorts = getAtPath(applied, "spec.ports");
    for (const p of Array.isArray(appliedPorts) ? appliedPorts : []) {
      const nodePort = isPlainObject(p) ? portNumber(p.nodePort) : undefined;
      if (!isPlainObject(p) || nodePort === undefined || nodePort <= 0) continue;
      if (typeof p.name === "string") names.add(p.name);
      else values.add(nodePort);
    }
    return (port) => {
      if (typeof port.name === "string" && port.name !== "") return names.has(port.name);
      const nodePort = portNumber(port.nodePort);
      return nodePort !== undefined && values.has(nodePort);
    };
  }
  const owned = new Set<string>();
  for (const fields of managedFieldSets(ctx)) {
    const ports = getAtPath(fields, "['f:spec']['f:ports']");
    if (!isPlainObject(ports)) continue;
    for (const [key, value] of Object.entries(ports)) if (isPlainObject(value) && value["f:nodePort"] !== undefined) owned.add(key);
  }
  return (port) => {
    const number = portNumber(port.port);
    const protocol = port.protocol ?? "TCP";
    return number !== undefined && typeof protocol === "string" && owned.has(`k:{"port":${number},"protocol":"${protocol}"}`);
  };
}

/**
 * A port as a number, or undefined for anything else. Never Number()/String() on a value of unknown type: an
 * object with an own `toString` key makes them throw (and a crafted item would abort a whole export).
 */
function portNumber(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string" && /^\d+$/.test(value)) return Number(value);
  return undefined;
}

function remappedByVelero(obj: KubeObject, ctx: StripContext, path: string): boolean {
  if (!ctx.itemFromBackup) return false;
  const now = getAtPath(obj, path);
  return now !== undefined && now !== getAtPath(ctx.itemFromBackup, path);
}

function isServiceAccountTokenVolume(volume: unknown, serviceAccount: string): boolean {
  if (!isPlainObject(volume)) return false;
  const projected = volume.projected;
  if (isPlainObject(projected) && Array.isArray(projected.sources)) {
    const hasToken = projected.sources.some((s) => isPlainObject(s) && s.serviceAccountToken !== undefined);
    if (hasToken && typeof volume.name === "string" && volume.name.startsWith("kube-api-access-")) return true;
  }
  const secret = volume.secret;
  return isPlainObject(secret) && typeof secret.secretName === "string" && isGeneratedTokenName(secret.secretName, serviceAccount);
}

function removeServiceAccountTokenVolumes(obj: KubeObject, _ctx: StripContext): string[] {
  const spec = obj.spec;
  if (!isPlainObject(spec) || !Array.isArray(spec.volumes)) return [];
  const sa = typeof spec.serviceAccountName === "string" ? spec.serviceAccountName : "default";
  const dropped = new Set<string>();
  const removed: string[] = [];
  spec.volumes = spec.volumes.filter((v, i) => {
    if (!isServiceAccountTokenVolume(v, sa)) return true;
    const name = (v as Record<string, unknown>).name;
    if (typeof name === "string") dropped.add(name);
    removed.push(`spec.volumes[${i}]`);
    return false;
  });
  if (dropped.size === 0) return [];
  for (const list of ["containers", "initContainers", "ephemeralContainers"]) {
    const containers = spec[list];
    if (!Array.isArray(containers)) continue;
    containers.forEach((c, ci) => {
      if (!isPlainObject(c) || !Array.isArray(c.volumeMounts)) return;
      c.volumeMounts = c.volumeMounts.filter((m, mi) => {
        const drop = isPlainObject(m) && typeof m.name === "string" && dropped.has(m.name);
        if (drop) removed.push(`spec.${list}[${ci}].volumeMounts[${mi}]`);
        return !drop;
      });
    });
  }
  return removed;
}

/** "<serviceaccount>-token-<5 random chars>": the name the legacy token controller generated. */
function isGeneratedTokenName(secretName: string, serviceAccount: string): boolean {
  return secretName.startsWith(`${serviceAccount}-token-`) && /^[a-z0-9]{5}$/.test(secretName.slice(serviceAccount.length + 7));
}

export function isGeneratedServiceAccountToken(obj: KubeObject): boolean {
  if (obj.kind !== "Secret" || obj.apiVersion !== "v1") return false;
  if (getAtPath(obj, "type") !== "kubernetes.io/service-account-token") return false;
  const sa = obj.metadata.annotations?.["kubernetes.io/service-account.name"];
  return typeof sa === "string" && typeof obj.metadata.name === "string" && isGeneratedTokenName(obj.metadata.name, sa);
}

function removeGeneratedTokenReferences(obj: KubeObject): string[] {
  const name = obj.metadata.name ?? "";
  const secrets = obj.secrets;
  if (!Array.isArray(secrets)) return [];
  const removed: string[] = [];
  obj.secrets = secrets.filter((ref, i) => {
    const drop = isPlainObject(ref) && typeof ref.name === "string" && isGeneratedTokenName(ref.name, name);
    if (drop) removed.push(`secrets[${i}]`);
    return !drop;
  });
  return removed;
}
