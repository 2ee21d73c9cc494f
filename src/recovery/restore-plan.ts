// Which way to recover, and the steps: pure, from the pair record and what is known of the target cluster.
// Same cluster, control plane lost: etcd first (the whole API state at the pair's revision), then Velero for what
// etcd does not hold (volume data). New cluster: Velero only — an etcd snapshot carries the old cluster's
// identity (uids, service-account signing, node and endpoint objects, allocated IPs) and must not be restored there.
//
// Every step is typed: *automatic* steps carry an action `twinsnap restore run` performs, *manual* ones are the
// operator's (node access twinsnap does not have). `restore plan` and `restore run --dry-run` print these same
// steps with formatPlan; the executor (restore-runner.ts) interprets the actions. No step text exists elsewhere.
import type { PairRecord } from "../pairs/pair-record.js";

export type RestoreMode = "same-cluster" | "new-cluster";
/** "undecided": the cluster could not be identified and nothing says it is lost; the plan says why and stops. */
export type PlanMode = RestoreMode | "undecided";

/**
 * What is known of the cluster the kubeconfig names, as evidence for the path. Only positive evidence counts:
 * an identity that answers, or the backed-up cluster's own apiserver refusing or timing out. A problem on this
 * side (no or unreadable kubeconfig, parse error, unknown context, TLS or credential error) says nothing about
 * the control plane.
 */
export interface ClusterFacts {
  /** The kube-system namespace uid of the cluster the kubeconfig points at, if it answered. */
  identity?: string;
  /** Why the kubeconfig's apiserver did not answer: it refused the connection or timed out. */
  unreachable?: string;
  /** A problem on this side: the cluster was not asked, or its answer cannot be trusted. */
  localProblem?: string;
  /**
   * The pair's recorded apiserver endpoints, probed: `lost` when every one refused or timed out, with what each
   * did; undefined when the pair records none.
   */
  recordedEndpoints?: { lost: boolean; detail: string };
}

export interface EtcdMember {
  name: string;
  peerUrl: string;
}

/** Where and how this node's etcd member is restored. */
export interface EtcdTarget {
  /** This member's name (etcd --name). */
  member: string;
  /** Every member of the restored etcd cluster; just this one for a single-member etcd. */
  cluster: EtcdMember[];
  dataDir: string;
  etcdutl: string;
  bumpRevision: number;
  /** Move an existing data directory aside instead of refusing. */
  force: boolean;
}

export type StepId =
  | "verify-snapshot"
  | "stop-control-plane"
  | "restore-etcd"
  | "restore-other-members"
  | "start-control-plane"
  | "wait-apiserver"
  | "restore-volumes"
  | "install-velero"
  | "restore-objects";

/** The Restore object `velero restore create` would make (metadata and spec; Velero fills in the status). */
export interface VeleroRestoreObject {
  apiVersion: "velero.io/v1";
  kind: "Restore";
  metadata: { name: string; namespace: string };
  spec: { backupName: string; includedResources?: string[]; existingResourcePolicy?: "none" | "update" };
}

export type StepAction =
  | { type: "verify-snapshot"; etcdutl: string }
  | { type: "restore-etcd"; target: EtcdTarget }
  | { type: "wait-apiserver"; identity: string }
  /**
   * replaceStaleBackup: after a same-cluster etcd restore the Backup object is back as etcd held it while the
   * backup ran (InProgress; Velero marks such backups Failed when it starts). Removing that object lets Velero's
   * backup sync bring it back from the storage location with its final phase; the backup's data is not touched
   * (Velero's backup sync itself deletes orphaned Backup objects the same way: pkg/controller/backup_sync_controller.go).
   */
  | { type: "velero-restore"; restore: VeleroRestoreObject; replaceStaleBackup: boolean };

interface StepText {
  id: StepId;
  title: string;
  /** What to run by hand; for automatic steps, what twinsnap does, as commands a person could run instead. */
  commands: string[];
  note?: string;
}
export interface AutomaticStep extends StepText {
  kind: "automatic";
  action: StepAction;
}
export interface ManualStep extends StepText {
  kind: "manual";
  /** A condition twinsnap can check itself: when it holds, the run does not stop at the step. */
  check?: "velero-installed";
}
export type PlanStep = AutomaticStep | ManualStep;

export interface RestorePlan {
  mode: PlanMode;
  why: string;
  warnings: string[];
  /** Why `restore run` cannot carry this plan out (it prints the plan, refuses, and says what is missing). */
  blocked?: string;
  /** The command that carries the plan out. */
  runCommand: string;
  /** The same without the parameters a started run keeps in its state: what `--continue` is added to. */
  resumeCommand: string;
  steps: PlanStep[];
}

export interface PlanOptions {
  pair: PairRecord;
  cluster: ClusterFacts;
  override?: RestoreMode;
  store: string;
  kubeconfig?: string;
  veleroNamespace: string;
  /** What is known of this node's etcd member; missing parts print as placeholders and block the run. */
  etcd?: Partial<EtcdTarget>;
  /** A run already started: its path stands, whatever the cluster answers now (it may be down on purpose). */
  resumeOf?: { mode: RestoreMode; startedAt: string };
  /** --identity / --passphrase-file as given: repeated in the printed commands that read the snapshot. */
  keyFlags?: string[];
}

/** Velero's part of a same-cluster recovery: volume data only; every object is already back from etcd. */
export const VOLUME_DATA_RESTORE = { includedResources: ["persistentvolumeclaims", "persistentvolumes", "pods"], existingResourcePolicy: "none" } as const;
export const DEFAULT_ETCD_DATA_DIR = "/var/lib/etcd-twinsnap";
export const DEFAULT_BUMP_REVISION = 1_000_000_000;
/** Exit code of `restore run` when it stops at a step that is the operator's. */
export const EXIT_MANUAL_STEP = 3;

/**
 * The path the evidence supports. The destructive one (same cluster: etcd replaced) only on positive evidence:
 * the cluster answers with the pair's identity, or the pair's own recorded apiserver refuses or times out.
 */
export function decideMode(pair: PairRecord, cluster: ClusterFacts): { mode: PlanMode; why: string; warnings: string[] } {
  if (cluster.identity !== undefined) {
    return cluster.identity === pair.clusterIdentity
      ? { mode: "same-cluster", why: `the cluster answers with the identity the pair recorded (kube-system uid ${pair.clusterIdentity})`, warnings: [] }
      : { mode: "new-cluster", why: `the cluster is not the one the backup came from (kube-system uid ${cluster.identity}, the pair recorded ${pair.clusterIdentity})`, warnings: [] };
  }
  const choose = "pass --mode new-cluster to restore into another cluster with Velero, or --mode same-cluster if you know this cluster's control plane is lost";
  if (cluster.localProblem !== undefined) {
    return { mode: "undecided", why: `the cluster could not be identified: ${cluster.localProblem}. That is not evidence that its control plane is lost. Fix it and plan again, or ${choose}`, warnings: [] };
  }
  const noAnswer = cluster.unreachable ?? "it did not answer";
  if (cluster.recordedEndpoints?.lost) {
    return {
      mode: "same-cluster",
      why: `the backed-up cluster's apiserver does not answer (${cluster.recordedEndpoints.detail}): its control plane is lost`,
      warnings: [],
    };
  }
  if (cluster.recordedEndpoints) {
    return { mode: "undecided", why: `the kubeconfig's apiserver does not answer (${noAnswer}), but the backed-up cluster's apiserver does (${cluster.recordedEndpoints.detail}): check the kubeconfig (server, --context). Or ${choose}`, warnings: [] };
  }
  return { mode: "undecided", why: `the apiserver does not answer (${noAnswer}) and the pair records no apiserver endpoint to confirm that the backed-up cluster's control plane is lost: ${choose}`, warnings: [] };
}

// Words made only of these print as they are (placeholders like <member> included); others are single-quoted.
const shellWord = (s: string) => (/^[\w@%+=:,./<>-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

function commonFlags(opts: PlanOptions): string[] {
  return ["--store", opts.store, ...(opts.kubeconfig ? ["--kubeconfig", opts.kubeconfig] : []), ...(opts.veleroNamespace !== "velero" ? ["--velero-namespace", opts.veleroNamespace] : [])];
}

/**
 * What decrypts the snapshot, for the commands that read it: the flags given, or for an encrypted pair a
 * placeholder that says which flag it needs (a command copied from the plan must not fail on it later).
 */
function keyFlags(opts: PlanOptions): string[] {
  if (opts.keyFlags?.length) return opts.keyFlags;
  const encryption = opts.pair.snapshot?.encryption;
  if (!encryption) return [];
  return encryption.passphrase ? ["--passphrase-file", "<passphrase-file>"] : ["--identity", "<age-identity-file>"];
}

function etcdFlags(t: EtcdTarget): string[] {
  const self = t.cluster.find((m) => m.name === t.member);
  return [
    "--name", t.member,
    ...(t.cluster.length > 1 ? ["--initial-cluster", t.cluster.map((m) => `${m.name}=${m.peerUrl}`).join(",")] : []),
    "--initial-advertise-peer-urls", self?.peerUrl ?? "<peer-url>",
    "--data-dir", t.dataDir,
    "--etcdutl", t.etcdutl,
    ...(t.bumpRevision !== DEFAULT_BUMP_REVISION ? ["--bump-revision", String(t.bumpRevision)] : []),
    ...(t.force ? ["--force"] : []),
  ];
}

/** The etcd target with placeholders where nothing is known, and the flags `restore run` still needs. */
export function resolveEtcdTarget(given: Partial<EtcdTarget> = {}): { target: EtcdTarget; missing: string[] } {
  const missing: string[] = [];
  const member = given.member ?? (missing.push("--name MEMBER"), "<member>");
  let cluster = given.cluster && given.cluster.length > 0 ? given.cluster : undefined;
  if (!cluster) {
    missing.push("--initial-advertise-peer-urls URL (or --initial-cluster a=URL,b=URL)");
    cluster = [{ name: member, peerUrl: "https://<member-ip>:2380" }];
  } else if (!cluster.some((m) => m.name === member)) {
    missing.push(`--name naming one of the --initial-cluster members (${cluster.map((m) => m.name).join(", ")})`);
  }
  return {
    target: { member, cluster, dataDir: given.dataDir ?? DEFAULT_ETCD_DATA_DIR, etcdutl: given.etcdutl ?? "etcdutl", bumpRevision: given.bumpRevision ?? DEFAULT_BUMP_REVISION, force: given.force ?? false },
    missing,
  };
}

export function veleroRestoreCommand(r: VeleroRestoreObject): string {
  const s = r.spec;
  return [
    "velero restore create", r.metadata.name, "--from-backup", s.backupName,
    ...(s.includedResources ? ["--include-resources", s.includedResources.join(",")] : []),
    ...(s.existingResourcePolicy ? ["--existing-resource-policy", s.existingResourcePolicy] : []),
    "--wait -n", r.metadata.namespace,
  ].join(" ");
}

function sameClusterSteps(opts: PlanOptions, target: EtcdTarget): PlanStep[] {
  const { pair } = opts;
  const name = pair.backup.name;
  const ns = opts.veleroNamespace;
  const rev = pair.snapshot?.revision ?? "?";
  const others = target.cluster.filter((m) => m.name !== target.member);
  const volumes: VeleroRestoreObject = { apiVersion: "velero.io/v1", kind: "Restore", metadata: { name: `${name}-volumes`, namespace: ns }, spec: { backupName: name, ...VOLUME_DATA_RESTORE, includedResources: [...VOLUME_DATA_RESTORE.includedResources] } };
  const steps: PlanStep[] = [
    {
      id: "verify-snapshot",
      kind: "automatic",
      title: "Check the pair: the snapshot reads back as stored and etcd accepts it",
      commands: [["twinsnap", "pairs", "verify", name, ...commonFlags(opts).slice(0, 2), "--etcdutl", target.etcdutl, ...keyFlags(opts)].map(shellWord).join(" ")],
      action: { type: "verify-snapshot", etcdutl: target.etcdutl },
    },
    {
      id: "stop-control-plane",
      kind: "manual",
      title: "Stop the API servers and etcd on every control-plane node",
      commands: ["mkdir -p /root/twinsnap-stopped && mv /etc/kubernetes/manifests/{kube-apiserver,etcd}.yaml /root/twinsnap-stopped/"],
      note: "Nothing may write to etcd while it is replaced. The command is for static pods (kubeadm); with systemd units: systemctl stop kube-apiserver etcd. Wait until no etcd or kube-apiserver process runs (crictl ps / ps).",
    },
    {
      id: "restore-etcd",
      kind: "automatic",
      title: `Restore this member (${target.member}) to etcd revision ${rev} into ${target.dataDir}, revision bumped by ${target.bumpRevision} and marked compacted`,
      commands: [["twinsnap", "etcd", "restore", "--backup", name, ...commonFlags(opts).slice(0, 2), ...etcdFlags(target), ...keyFlags(opts)].map(shellWord).join(" ")],
      note: `The snapshot is checked (size, sha256) before use; an existing ${target.dataDir} is never overwritten${target.force ? " (--force: it is moved aside)" : " (--force moves it aside)"}. The bumped, compacted revision makes kubelets, controllers and Velero re-list instead of resuming from stale caches.`,
      action: { type: "restore-etcd", target },
    },
  ];
  if (others.length > 0) {
    steps.push({
      id: "restore-other-members",
      kind: "manual",
      title: `Restore the other members (${others.map((m) => m.name).join(", ")}) from the same snapshot`,
      commands: others.map((m) => `on ${m.name}: ${["twinsnap", "etcd", "restore", "--backup", name, ...commonFlags(opts).slice(0, 2), ...etcdFlags({ ...target, member: m.name }), ...keyFlags(opts)].map(shellWord).join(" ")}`),
      note: "Each member needs its own data directory from the same snapshot before any of them starts.",
    });
  }
  steps.push(
    {
      id: "start-control-plane",
      kind: "manual",
      title: `Point etcd at ${target.dataDir} and start it on every member, then the API servers`,
      commands: [
        `sed -i 's#/var/lib/etcd#${target.dataDir}#g' /root/twinsnap-stopped/etcd.yaml && mv /root/twinsnap-stopped/etcd.yaml /etc/kubernetes/manifests/`,
        "mv /root/twinsnap-stopped/kube-apiserver.yaml /etc/kubernetes/manifests/",
      ],
      note: `Static pods (kubeadm): the etcd manifest's --data-dir and its hostPath volume name the data directory. Otherwise start etcd with --data-dir=${target.dataDir} (its other flags unchanged), then kube-apiserver. etcd keeps the member's name and peer URLs from the restored data.`,
    },
    {
      id: "wait-apiserver",
      kind: "automatic",
      title: `Wait until the apiserver answers again, as the backed-up cluster (kube-system uid ${pair.clusterIdentity})`,
      commands: ["kubectl get --raw /readyz", "kubectl get namespace kube-system -o jsonpath='{.metadata.uid}'"],
      action: { type: "wait-apiserver", identity: pair.clusterIdentity },
    },
    {
      id: "restore-volumes",
      kind: "automatic",
      title: "Bring back what etcd does not hold: volume data, with a Velero Restore of volumes only",
      commands: [veleroRestoreCommand(volumes)],
      note: `etcd now holds every object as it was at revision ${rev}; Velero restores only volume data (file-system backups or snapshots) and skips objects that exist, so a volume whose PV and PVC survived keeps its disk as it is. To bring back the data of a lost volume, delete its pods, PVC and PV before this step. Velero's Backup object came back from etcd as it was while the backup ran: twinsnap removes it so Velero's backup sync lists it again from the storage location (its data stays).`,
      action: { type: "velero-restore", restore: volumes, replaceStaleBackup: true },
    },
  );
  return steps;
}

function newClusterSteps(opts: PlanOptions): PlanStep[] {
  const name = opts.pair.backup.name;
  const ns = opts.veleroNamespace;
  const restore: VeleroRestoreObject = { apiVersion: "velero.io/v1", kind: "Restore", metadata: { name: `${name}-migrate`, namespace: ns }, spec: { backupName: name } };
  return [
    {
      id: "install-velero",
      kind: "manual",
      check: "velero-installed",
      title: "Install Velero with the same backup storage location (read-only is enough) and twinsnap's plugin",
      commands: [`velero install --plugins velero/velero-plugin-for-aws:v1.14.3,<registry>/twinsnap-velero-plugin:<version> --bucket <bucket> --backup-location-config ... --namespace ${ns}`],
      note: "The etcd snapshot is not used here: it holds the old cluster's identity (uids, service-account signing, nodes, endpoints, allocated IPs) and would make the new cluster impersonate the old one. `restore run` checks that Velero's API is there and goes on by itself.",
    },
    {
      id: "restore-objects",
      kind: "automatic",
      title: "Wait until Velero lists the backup, then restore it; twinsnap's actions strip runtime fields and restore dependencies first",
      commands: [`velero backup get ${name} -n ${ns}`, veleroRestoreCommand(restore), `velero restore describe ${restore.metadata.name} --details -n ${ns}`],
      action: { type: "velero-restore", restore, replaceStaleBackup: false },
    },
  ];
}

export function restorePlan(opts: PlanOptions): RestorePlan {
  const { pair } = opts;
  const decided = opts.resumeOf ? { mode: opts.resumeOf.mode, why: `the run started at ${opts.resumeOf.startedAt} took this path`, warnings: [] } : decideMode(pair, opts.cluster);
  const mode = opts.override ?? decided.mode;
  const warnings = [...decided.warnings];
  if (opts.override && decided.mode === "undecided") warnings.push(`--mode ${opts.override} chosen by you: ${decided.why}`);
  else if (opts.override && opts.override !== decided.mode) warnings.push(`--mode ${opts.override} overrides the detected ${decided.mode} (${decided.why})`);
  const why = opts.override && opts.override !== decided.mode ? `forced by --mode` : decided.why;
  const run = ["twinsnap", "restore", "run", "--backup", pair.backup.name, ...commonFlags(opts)];
  if (pair.snapshotTiming === "after-backup" && mode !== "new-cluster") {
    warnings.push(`the etcd snapshot of ${pair.backup.name} was taken after the backup had finished (the coordinator was not running during it): etcd comes back as it was at ${pair.snapshot?.startedAt ?? "a later moment"}, later than the volume data Velero backed up`);
  }
  if (mode === "undecided") {
    return { mode, why, warnings, blocked: why, runCommand: run.map(shellWord).join(" "), resumeCommand: run.map(shellWord).join(" "), steps: [] };
  }
  if (mode === "new-cluster") {
    const command = [...run, ...(opts.override ? ["--mode", mode] : [])].map(shellWord).join(" ");
    return { mode, why, warnings, runCommand: command, resumeCommand: run.map(shellWord).join(" "), steps: newClusterSteps(opts) };
  }
  const { target, missing } = resolveEtcdTarget(opts.etcd);
  let blocked: string | undefined;
  if (!pair.snapshot) {
    const reason = `backup ${pair.backup.name} has no etcd snapshot (${pair.state}${pair.reason ? `: ${pair.reason}` : pair.etcd ? `: ${pair.etcd.reason}` : ""}); only the Velero path is possible (--mode new-cluster)`;
    warnings.push(reason);
    blocked = reason;
  } else if (missing.length > 0) {
    blocked = `the etcd restore on this node needs ${missing.join(", ")}`;
  }
  return {
    mode,
    why,
    warnings,
    ...(blocked ? { blocked } : {}),
    runCommand: [...run, ...(opts.override ? ["--mode", mode] : []), ...etcdFlags(target), ...keyFlags(opts)].map(shellWord).join(" "),
    resumeCommand: [...run, ...keyFlags(opts)].map(shellWord).join(" "),
    steps: sameClusterSteps(opts, target),
  };
}

/** How far a run got, per step, for the markers formatPlan prints (from the saved run state). */
export type StepProgress = Partial<Record<StepId, "done" | "waiting">>;

/** The command that tells a stopped run the operator has done manual step `id`. */
export function continueCommand(plan: RestorePlan, id: StepId): string {
  return `${plan.resumeCommand} --continue ${id}`;
}

export function formatStep(step: PlanStep, index: number, progress?: StepProgress): string {
  const who = step.kind === "automatic" ? "twinsnap" : step.check ? "you; twinsnap checks it" : "you";
  const state = progress?.[step.id] === "done" ? " — done" : progress?.[step.id] === "waiting" ? " — waiting for you" : "";
  const lines = [`${index + 1}. [${who}] ${step.title}${state}`];
  for (const c of step.commands) lines.push(`     ${c}`);
  if (step.note) lines.push(`   ${step.note}`);
  return lines.join("\n");
}

export function formatPlan(plan: RestorePlan, pair: PairRecord, progress?: StepProgress): string {
  const lines = [
    `Backup ${pair.backup.name} (${pair.backup.phase || "unknown phase"}), pair ${pair.state}${pair.snapshot ? `, etcd revision ${pair.snapshot.revision}` : ""}`,
    `Path: ${plan.mode === "same-cluster" ? "same cluster — etcd first, then volume data with Velero" : plan.mode === "new-cluster" ? "new cluster — Velero restore of the paired backup" : "none chosen — the cluster could not be identified (see Why)"}`,
    `Why: ${plan.why}`,
    ...plan.warnings.map((w) => `WARNING: ${w}`),
    `Run: ${plan.runCommand}`,
    `     carries out the [twinsnap] steps and stops at each [you] step with exit code ${EXIT_MANUAL_STEP}, printing what to do and how to continue.`,
    ...(plan.blocked ? [`     It cannot start yet: ${plan.blocked}.`] : []),
    "",
  ];
  plan.steps.forEach((s, i) => lines.push(formatStep(s, i, progress), ""));
  return lines.join("\n");
}
