// Playing Velero's part in coordinator tests: its CRDs (from Velero itself), Backup objects and their phases,
// and reading the pair records the coordinator writes into a file store.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import type { PairRecord } from "../../src/pairs/pair-record.js";
import { peer } from "./peers.js";
import type { TestCluster } from "./test-clusters.js";

export async function installVelero(cluster: TestCluster, workDir: string): Promise<void> {
  const crds = execFileSync(peer("VELERO_BIN"), ["install", "--crds-only", "--dry-run", "-o", "yaml"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  writeFileSync(join(workDir, "velero-crds.yaml"), crds);
  await cluster.kubectl(["apply", "-f", join(workDir, "velero-crds.yaml")]);
  await cluster.kubectl(["wait", "--for=condition=Established", "crd/backups.velero.io"]);
  await cluster.kubectl(["create", "namespace", "velero"]);
  // Established is not yet served: the apiserver answers "storage is (re)initializing" for a moment.
  await until("Velero's Backups are served", () => cluster.kubectl(["get", "backups.velero.io", "-n", "velero"]).then(() => true, () => false));
}

/** Waits for a condition, polling; fails with what it waited for. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function pairRecords(storeDir: string): PairRecord[] {
  const dir = join(storeDir, "pairs");
  return (existsSync(dir) ? readdirSync(dir, { withFileTypes: true }) : [])
    .filter((e) => e.isFile() && e.name.endsWith(".json"))
    .map((e) => JSON.parse(readFileSync(join(dir, e.name), "utf8")) as PairRecord);
}

/** Every file under snapshots/ (as `<backup uid>/<writer>.db.zst`), partial uploads included. */
export function snapshotFiles(storeDir: string): string[] {
  const dir = join(storeDir, "snapshots");
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join("/"))
    .sort();
}

export interface BackupStatus {
  phase: string;
  startTimestamp?: string;
  completionTimestamp?: string;
}

/** Backups in Velero's namespace, created and moved through their phases as Velero would. */
export function veleroBackups(cluster: TestCluster, workDir: string) {
  const manifest = (name: string, status?: BackupStatus) => ({ apiVersion: "velero.io/v1", kind: "Backup", metadata: { name, namespace: "velero" }, spec: { storageLocation: "default", includedNamespaces: ["*"] }, ...(status ? { status } : {}) });
  return {
    async create(names: string[], status?: BackupStatus): Promise<void> {
      const file = join(workDir, `backups-${names[0]}.json`);
      writeFileSync(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: names.map((n) => manifest(n, status)) }));
      await cluster.kubectl(["create", "-f", file]);
    },
    /** Velero's Backup CRD has no status subresource: Velero writes status with the object, and so does this. */
    async setStatus(name: string, status: BackupStatus): Promise<void> {
      await cluster.kubectl(["patch", "backups.velero.io", name, "-n", "velero", "--type=merge", "-p", JSON.stringify({ status })]);
    },
    async delete(names: string[]): Promise<void> {
      await cluster.kubectl(["delete", "backups.velero.io", "-n", "velero", ...names]);
    },
    async annotations(name: string): Promise<Record<string, string>> {
      return JSON.parse((await cluster.kubectl(["get", "backups.velero.io", name, "-n", "velero", "-o", "jsonpath={.metadata.annotations}"])) || "{}") as Record<string, string>;
    },
  };
}
