// Velero's API as twinsnap uses it: where its objects are served, the Backup as twinsnap reads it, and the cluster's
// identity — the kube-system namespace uid, which ties a pair to the cluster it came from (a new cluster has
// another; an etcd restore brings the same one back).
export type VeleroResource = "backups" | "restores" | "backupstoragelocations" | "downloadrequests" | "serverstatusrequests";

/** `/apis/velero.io/v1/namespaces/NS/RESOURCE[/NAME]`, every segment escaped. */
export function veleroPath(namespace: string, resource: VeleroResource, name?: string): string {
  return `/apis/velero.io/v1/namespaces/${encodeURIComponent(namespace)}/${resource}${name === undefined ? "" : `/${encodeURIComponent(name)}`}`;
}

/** A Velero Backup, the fields twinsnap reads. */
export interface VeleroBackup {
  metadata: { name: string; namespace: string; uid: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { storageLocation?: string };
  status?: { phase?: string; startTimestamp?: string; completionTimestamp?: string };
}

/** Where the cluster's identity is read. */
export const CLUSTER_IDENTITY_PATH = "/api/v1/namespaces/kube-system";

/** The identity in what CLUSTER_IDENTITY_PATH answered; undefined when it is not there (not found, not readable). */
export function clusterIdentityOf(namespace: { metadata?: { uid?: unknown } } | undefined): string | undefined {
  const uid = namespace?.metadata?.uid;
  return typeof uid === "string" && uid !== "" ? uid : undefined;
}
