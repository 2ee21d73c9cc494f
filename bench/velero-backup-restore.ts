// Benchmark: the real Velero 1.18 server backing up and restoring a few thousand objects, with and without
// twinsnap's plugins — the same `velero` binary, two plugins directories (velero-plugin-for-aws alone; the same
// plus twinsnap as its plugin image installs it), against the same source and target clusters (bucket prefixes
// `stock` and `twinsnap`); the runs alternate (stock first, then twinsnap first) and repeat, and medians are
// reported. Built on the e2e harness (test/e2e/support/).
//
// Measured per run: the wall time of `velero backup create --wait` and `velero restore create --wait` (the
// server's own timestamps have whole seconds only, and are kept beside), the twinsnap plugin processes' peak RSS
// (VmHWM from /proc while they run), and how many Execute calls twinsnap served per second. Velero 1.18.1's
// /metrics has no plugin or item-action metric (pkg/metrics/metrics.go: backup/restore totals, durations and
// item counts only), so calls are counted from Velero's own logs: one "Executing custom action" line per
// BackupItemAction call (pkg/backup/item_backupper.go), one "Executing item action for" line per
// RestoreItemAction call (pkg/restore/restore.go); twinsnap's calls are the twinsnap run's lines minus the stock
// run's (the built-in actions are the same in both).
import { readFileSync } from "node:fs";
import { syntheticObjects } from "./synthetic.js";
import { E2eEnvironment } from "../test/e2e/support/e2e-environment.js";
import type { E2eCluster } from "../test/e2e/support/cluster.js";
import type { VeleroServer } from "../test/e2e/support/velero-server.js";

type Flavour = "stock" | "twinsnap";

interface RunResult {
  flavour: Flavour;
  run: number;
  backup: { wallMs: number; serverSeconds: number; items: number; phase: string; actionCalls: number };
  restore: { wallMs: number; serverSeconds: number; phase: string; warnings: number; errors: number; actionCalls: number };
  /** Largest VmHWM of a twinsnap plugin process seen during the backup and the restore (KiB). */
  pluginPeakRssKiB?: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Polls the twinsnap plugin processes of a Velero server for their peak RSS while `work` runs. */
async function withPeakRss<T>(velero: VeleroServer, work: () => Promise<T>): Promise<{ result: T; peakKiB: number }> {
  let peakKiB = 0;
  const sample = () => {
    for (const p of velero.twinsnapProcesses()) {
      try {
        const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${p.pid}/status`, "utf8"));
        if (m) peakKiB = Math.max(peakKiB, Number(m[1]));
      } catch {
        // exited between the listing and the read
      }
    }
  };
  const timer = setInterval(sample, 100);
  try {
    const result = await work();
    sample();
    return { result, peakKiB };
  } finally {
    clearInterval(timer);
  }
}

const countLines = (log: string, marker: string) => log.split("\n").filter((l) => l.includes(marker)).length;
const serverSeconds = (status: Record<string, any>) =>
  (Date.parse(status.completionTimestamp) - Date.parse(status.startTimestamp)) / 1000;

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const t = process.hrtime.bigint();
  const result = await work();
  return { ms: Math.round(Number(process.hrtime.bigint() - t) / 1e6), result };
}

async function populate(cluster: E2eCluster, count: number): Promise<string[]> {
  const objects = syntheticObjects(count, { namespacePrefix: "bench", crds: false });
  // `create`, one request per object, in chunks kubectl handles comfortably.
  for (let i = 0; i < objects.length; i += 500) {
    await cluster.kubectl(["create", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "List", items: objects.slice(i, i + 500) }) });
  }
  return objects.filter((o) => o.kind === "Namespace").map((o) => o.metadata.name!);
}

export async function benchVeleroBackupRestore(opts: { objects?: number; repeats?: number } = {}) {
  const count = opts.objects ?? 3000;
  const repeats = opts.repeats ?? 3;
  const env = await E2eEnvironment.start("bench");
  let ok = false;
  try {
    // No controller-manager: the objects stay exactly as created (no ReplicaSets or Pods multiplying them).
    const [source, target] = await Promise.all([env.startCluster("source", { withControllerManager: false }), env.startCluster("target", { withControllerManager: false })]);
    const namespaces = await populate(source, count);
    // One Velero server at a time: controller-runtime's metrics listener inside every `velero server` binds :8080
    // and Velero 1.18 has no flag to move it, so a second server on the same host exits. Each backup and each
    // restore gets a server of its own (a namespace per run; one bucket prefix per flavour), started untimed.
    const install = (cluster: E2eCluster, flavour: Flavour, run: number) =>
      env.startVelero(cluster, { twinsnap: flavour === "twinsnap", namespace: `velero-${flavour}-${run}`, prefix: flavour, label: `${cluster.name}-${flavour}-${run}` });

    const runs: RunResult[] = [];
    for (let run = 0; run < repeats; run++) {
      const order: Flavour[] = run % 2 === 0 ? ["stock", "twinsnap"] : ["twinsnap", "stock"];
      for (const flavour of order) {
        const name = `bench-${flavour}-${run}`;
        const sv = await install(source, flavour, run);
        process.stderr.write(`  ${name}: backup...\n`);
        const backup = await withPeakRss(sv, () => timed(() => sv.cli.run(["backup", "create", name, "--include-namespaces", namespaces.join(","), "--snapshot-volumes=false", "--wait"])));
        const backupStatus = (await sv.cli.backupStatus(name)).raw.status;
        const backupLog = await sv.cli.backupLogs(name);
        await sv.stop();
        const tv = await install(target, flavour, run);
        await tv.waitForBackup(name);
        // Into fresh namespaces on the target each run: nothing there yet, the same work every time.
        const mappings = namespaces.map((ns) => `${ns}:r${run}-${flavour === "stock" ? "s" : "t"}-${ns}`).join(",");
        process.stderr.write(`  ${name}: restore...\n`);
        const restore = await withPeakRss(tv, () => timed(() => tv.cli.run(["restore", "create", `${name}-restore`, "--from-backup", name, "--namespace-mappings", mappings, "--wait"])));
        const restoreStatus = (await tv.cli.restoreStatus(`${name}-restore`)).raw.status;
        const restoreLog = await tv.cli.restoreLogs(`${name}-restore`);
        await tv.stop();
        runs.push({
          flavour,
          run,
          backup: {
            wallMs: backup.result.ms,
            serverSeconds: serverSeconds(backupStatus),
            items: backupStatus.progress?.itemsBackedUp ?? 0,
            phase: backupStatus.phase,
            actionCalls: countLines(backupLog, "Executing custom action"),
          },
          restore: {
            wallMs: restore.result.ms,
            serverSeconds: serverSeconds(restoreStatus),
            phase: restoreStatus.phase,
            warnings: restoreStatus.warnings ?? 0,
            errors: restoreStatus.errors ?? 0,
            actionCalls: countLines(restoreLog, "Executing item action for"),
          },
          ...(flavour === "twinsnap" ? { pluginPeakRssKiB: Math.max(backup.peakKiB, restore.peakKiB) } : {}),
        });
      }
    }

    const of = (flavour: Flavour) => runs.filter((r) => r.flavour === flavour);
    const med = (flavour: Flavour, pick: (r: RunResult) => number) => median(of(flavour).map(pick));
    const backupRatio = med("twinsnap", (r) => r.backup.wallMs) / med("stock", (r) => r.backup.wallMs);
    const restoreRatio = med("twinsnap", (r) => r.restore.wallMs) / med("stock", (r) => r.restore.wallMs);
    const twinsnapBackupCalls = med("twinsnap", (r) => r.backup.actionCalls) - med("stock", (r) => r.backup.actionCalls);
    const twinsnapRestoreCalls = med("twinsnap", (r) => r.restore.actionCalls) - med("stock", (r) => r.restore.actionCalls);
    ok = true;
    return {
      name: "velero-backup-restore",
      velero: "1.18.1 server and CLI, velero-plugin-for-aws 1.14.3, moto S3 on loopback; one source and one target cluster (etcd 3.6 + kube-apiserver 1.36, no controller-manager), one Velero server at a time",
      objects: count,
      namespaces: namespaces.length,
      repeats,
      target: "duration ratio twinsnap/stock <= 1.10",
      backup: {
        medianWallMs: { stock: med("stock", (r) => r.backup.wallMs), twinsnap: med("twinsnap", (r) => r.backup.wallMs) },
        ratio: round(backupRatio),
        twinsnapExecuteCalls: twinsnapBackupCalls,
        twinsnapExecuteCallsPerSecond: round(twinsnapBackupCalls / (med("twinsnap", (r) => r.backup.wallMs) / 1000), 0),
      },
      restore: {
        medianWallMs: { stock: med("stock", (r) => r.restore.wallMs), twinsnap: med("twinsnap", (r) => r.restore.wallMs) },
        ratio: round(restoreRatio),
        twinsnapExecuteCalls: twinsnapRestoreCalls,
        twinsnapExecuteCallsPerSecond: round(twinsnapRestoreCalls / (med("twinsnap", (r) => r.restore.wallMs) / 1000), 0),
      },
      pluginPeakRssMiB: round(Math.max(...of("twinsnap").map((r) => r.pluginPeakRssKiB ?? 0)) / 1024, 1),
      notes: [
        "wall time of `velero backup|restore create --wait`, median of the runs; runs alternate which flavour goes first",
        "Execute calls per second: from Velero's logs (\"Executing custom action\" per BackupItemAction call, \"Executing item action for\" per RestoreItemAction call), twinsnap run minus stock run, over the twinsnap run's median wall time; Velero 1.18.1 exports no plugin metrics",
        "plugin peak RSS: the largest VmHWM of the twinsnap plugin processes, sampled every 100 ms from /proc during backups and restores",
      ],
      runs,
    };
  } finally {
    await env.stop({ keep: !ok });
  }
}
