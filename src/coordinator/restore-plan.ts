// Which way to recover, and the steps: pure, from the pair record and what is known of the target cluster.
// Same cluster, control plane lost: etcd first (the whole API state at the pair's revision), then Velero for what
// etcd does not hold (volume data). New cluster: Velero only — an etcd snapshot carries the old cluster's
// identity (uids, service-account signing, node and endpoint objects, allocated IPs) and must not be restored there.
import type { PairRecord } from "./pair-record.js";

export type RestoreMode = "same-cluster" | "new-cluster";

export interface ClusterFacts {
  /** The kube-system namespace uid of the cluster the kubeconfig points at, if it answered. */
  identity?: string;
  /** Why the cluster could not be asked, if it could not. */
  unreachable?: string;
}

export interface RestorePlan {
  mode: RestoreMode;
  why: string;
  warnings: string[];
  steps: { title: string; commands: string[]; note?: string }[];
}

export interface PlanOptions {
  pair: PairRecord;
  cluster: ClusterFacts;
  override?: RestoreMode;
  store: string;
  veleroNamespace: string;
}

export function decideMode(pair: PairRecord, cluster: ClusterFacts): { mode: RestoreMode; why: string; warnings: string[] } {
  if (cluster.identity !== undefined) {
    return cluster.identity === pair.clusterIdentity
      ? { mode: "same-cluster", why: `the cluster answers with the identity the pair recorded (kube-system uid ${pair.clusterIdentity})`, warnings: [] }
      : { mode: "new-cluster", why: `the cluster is not the one the backup came from (kube-system uid ${cluster.identity}, the pair recorded ${pair.clusterIdentity})`, warnings: [] };
  }
  return {
    mode: "same-cluster",
    why: `the apiserver does not answer (${cluster.unreachable ?? "unknown"}): the control plane of the backed-up cluster looks lost`,
    warnings: ["the cluster's identity could not be checked; if this is a different cluster, use --mode new-cluster"],
  };
}

export function restorePlan(opts: PlanOptions): RestorePlan {
  const { pair } = opts;
  const decided = decideMode(pair, opts.cluster);
  const mode = opts.override ?? decided.mode;
  const warnings = [...decided.warnings];
  if (opts.override && opts.override !== decided.mode) warnings.push(`--mode ${opts.override} overrides the detected ${decided.mode} (${decided.why})`);
  const name = pair.backup.name;
  const ns = opts.veleroNamespace;
  const store = shellWord(opts.store);
  const verify = { title: "Check the pair: the snapshot reads back and etcd accepts it", commands: [`twinsnap pairs verify ${name} --store ${store} --etcdutl $(command -v etcdutl)`] };
  if (mode === "same-cluster") {
    if (!pair.snapshot) {
      warnings.push(`backup ${name} has no etcd snapshot (${pair.state}${pair.reason ? `: ${pair.reason}` : pair.etcd ? `: ${pair.etcd.reason}` : ""}); only the Velero path is possible`);
    }
    const rev = pair.snapshot?.revision ?? "?";
    return {
      mode,
      why: opts.override ? `forced by --mode` : decided.why,
      warnings,
      steps: [
        verify,
        {
          title: "Stop the API servers and etcd on every control-plane node (static pods: move their manifests away)",
          commands: ["mkdir -p /root/twinsnap-stopped && mv /etc/kubernetes/manifests/{kube-apiserver,etcd}.yaml /root/twinsnap-stopped/"],
          note: "Nothing may write to etcd while it is replaced.",
        },
        {
          title: `Restore etcd to revision ${rev} on each member (new data directory, revision bumped and marked compacted)`,
          commands: [
            `twinsnap etcd restore --backup ${name} --store ${store} --name <member> --initial-cluster <m1>=https://<ip1>:2380,... --initial-advertise-peer-urls https://<this member>:2380 --data-dir /var/lib/etcd-twinsnap --etcdutl $(command -v etcdutl)`,
          ],
          note: "Run it on one member: it prints the exact command for the others. The bumped, compacted revision makes kubelets, controllers and Velero re-list instead of resuming from stale caches.",
        },
        {
          title: "Point etcd at the restored data and start etcd, then the API servers",
          commands: [
            "sed -i 's#/var/lib/etcd#/var/lib/etcd-twinsnap#g' /root/twinsnap-stopped/etcd.yaml && mv /root/twinsnap-stopped/etcd.yaml /etc/kubernetes/manifests/",
            "mv /root/twinsnap-stopped/kube-apiserver.yaml /etc/kubernetes/manifests/",
            "kubectl get --raw /readyz",
          ],
        },
        {
          title: "Bring back what etcd does not hold: volume data, with Velero",
          commands: [
            `velero restore create ${name}-volumes --from-backup ${name} --include-resources persistentvolumeclaims,persistentvolumes,pods --existing-resource-policy none --wait -n ${ns}`,
          ],
          note: "etcd now holds every object as it was at the backup; Velero restores only the volume data (file-system backups or snapshots) and skips objects that exist.",
        },
      ],
    };
  }
  return {
    mode,
    why: opts.override ? `forced by --mode` : decided.why,
    warnings,
    steps: [
      verify,
      {
        title: "Install Velero with the same backup storage location (read-only is enough) and twinsnap's plugin",
        commands: [`velero install --plugins velero/velero-plugin-for-aws:v1.14.3,<registry>/twinsnap-velero-plugin:<version> --bucket <bucket> --backup-location-config ... --namespace ${ns}`],
        note: "The etcd snapshot is not used here: it holds the old cluster's identity (uids, service-account signing, nodes, endpoints, allocated IPs) and would make the new cluster impersonate the old one.",
      },
      { title: "Wait until Velero has synced the backup from the storage location", commands: [`velero backup get ${name} -n ${ns}`] },
      {
        title: "Restore it; twinsnap's actions strip runtime fields and restore dependencies first",
        commands: [`velero restore create ${name}-migrate --from-backup ${name} --wait -n ${ns}`, `velero restore describe ${name}-migrate --details -n ${ns}`],
      },
    ],
  };
}

export function formatPlan(plan: RestorePlan, pair: PairRecord): string {
  const lines = [
    `Backup ${pair.backup.name} (${pair.backup.phase || "unknown phase"}), pair ${pair.state}${pair.snapshot ? `, etcd revision ${pair.snapshot.revision}` : ""}`,
    `Path: ${plan.mode === "same-cluster" ? "same cluster — etcd first, then volume data with Velero" : "new cluster — Velero restore of the paired backup"}`,
    `Why: ${plan.why}`,
    ...plan.warnings.map((w) => `WARNING: ${w}`),
    "",
  ];
  plan.steps.forEach((s, i) => {
    lines.push(`${i + 1}. ${s.title}`);
    for (const c of s.commands) lines.push(`     ${c}`);
    if (s.note) lines.push(`   ${s.note}`);
    lines.push("");
  });
  return `${lines.join("\n")}`;
}

/** A word a shell passes as it is (s3:// URLs carry "?" and "&"). */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_/:.,=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}
