// The coordinator's Prometheus metrics and health, in the text exposition format, without a client library:
// a handful of series, rendered on request.
import http from "node:http";
import type { PairRecord, PairState } from "../pairs/pair-record.js";

const STATES: readonly PairState[] = ["Pending", "Snapshotting", "Paired", "Failed", "BackupFailed"];

export class CoordinatorMetrics {
  private readonly states = new Map<string, PairState>();
  private snapshotSecondsSum = 0;
  private snapshots = 0;
  private snapshotBytesTotal = 0;
  private lastSnapshotBytes = 0;
  private lastSuccessSeconds = 0;
  private failures = 0;
  /** Objects the last checked backup of each schedule ("" for backups without one) missed, and failed checks. */
  private readonly missed = new Map<string, number>();
  private coverageFailures = 0;
  /** Set once the coordinator has listed Velero's Backups; cleared when it cannot. */
  ready = false;
  /** While this replica pairs (it leads): when the pairing loop last listed Backups or got a watch event. */
  private pairing?: { lastProgress: Date };

  constructor(
    /** /healthz fails when the pairing loop has made no progress for this long (default 10 minutes). */
    readonly stuckAfterMs = 600_000,
    private readonly now: () => Date = () => new Date(),
  ) {}

  pairingStarted(at: Date): void {
    this.pairing = { lastProgress: at };
  }

  pairingProgress(at: Date): void {
    if (this.pairing) this.pairing.lastProgress = at;
  }

  /** A standby (or a replica that lost its lease) is healthy: it has no loop to be stuck in. */
  pairingStopped(): void {
    this.pairing = undefined;
  }

  /** Why the process should be restarted, if it should: the pairing loop is stuck. */
  unhealthy(): string | undefined {
    if (!this.pairing) return undefined;
    const silentMs = this.now().getTime() - this.pairing.lastProgress.getTime();
    if (silentMs <= this.stuckAfterMs) return undefined;
    return `the pairing loop is stuck: no Backup list or watch event for ${Math.round(silentMs / 1000)} s (bound ${this.stuckAfterMs / 1000} s)`;
  }

  recordWritten(record: PairRecord): void {
    this.states.set(record.backup.uid, record.state);
    if (record.state === "Failed") this.failures++;
  }

  recordRemoved(uid: string): void {
    this.states.delete(uid);
  }

  coverageChecked(record: PairRecord): void {
    const c = record.coverage;
    if (!c) return;
    if ("error" in c) this.coverageFailures++;
    else this.missed.set(record.backup.schedule ?? "", c.missed);
  }

  snapshotTaken(seconds: number, storedBytes: number, at: Date): void {
    this.snapshots++;
    this.snapshotSecondsSum += seconds;
    this.snapshotBytesTotal += storedBytes;
    this.lastSnapshotBytes = storedBytes;
    this.lastSuccessSeconds = at.getTime() / 1000;
  }

  render(): string {
    const counts = new Map<PairState, number>(STATES.map((s) => [s, 0]));
    for (const s of this.states.values()) counts.set(s, (counts.get(s) ?? 0) + 1);
    const lines = [
      "# HELP twinsnap_pairs Pair records known to this coordinator, by state.",
      "# TYPE twinsnap_pairs gauge",
      ...STATES.map((s) => `twinsnap_pairs{state="${s}"} ${counts.get(s)}`),
      "# HELP twinsnap_snapshot_duration_seconds Time to stream, store and verify an etcd snapshot.",
      "# TYPE twinsnap_snapshot_duration_seconds summary",
      `twinsnap_snapshot_duration_seconds_sum ${this.snapshotSecondsSum}`,
      `twinsnap_snapshot_duration_seconds_count ${this.snapshots}`,
      "# HELP twinsnap_snapshot_bytes_total Bytes of snapshots stored (compressed).",
      "# TYPE twinsnap_snapshot_bytes_total counter",
      `twinsnap_snapshot_bytes_total ${this.snapshotBytesTotal}`,
      "# HELP twinsnap_last_snapshot_bytes Size of the last stored snapshot (compressed).",
      "# TYPE twinsnap_last_snapshot_bytes gauge",
      `twinsnap_last_snapshot_bytes ${this.lastSnapshotBytes}`,
      "# HELP twinsnap_last_success_timestamp_seconds When the last snapshot was stored and verified.",
      "# TYPE twinsnap_last_success_timestamp_seconds gauge",
      `twinsnap_last_success_timestamp_seconds ${this.lastSuccessSeconds}`,
      "# HELP twinsnap_snapshot_failures_total Pairs that ended Failed (no snapshot after retries).",
      "# TYPE twinsnap_snapshot_failures_total counter",
      `twinsnap_snapshot_failures_total ${this.failures}`,
      "# HELP twinsnap_backup_missed_objects Objects in the etcd snapshot that the last checked backup of a schedule does not hold (events, nodes and the like not counted).",
      "# TYPE twinsnap_backup_missed_objects gauge",
      ...[...this.missed].map(([schedule, n]) => `twinsnap_backup_missed_objects{schedule="${schedule.replace(/["\\\n]/g, "_")}"} ${n}`),
      "# HELP twinsnap_backup_coverage_check_failures_total Backups that could not be compared with their snapshot.",
      "# TYPE twinsnap_backup_coverage_check_failures_total counter",
      `twinsnap_backup_coverage_check_failures_total ${this.coverageFailures}`,
    ];
    return `${lines.join("\n")}\n`;
  }
}

/** /metrics, /healthz (the process serves and its pairing loop is not stuck) and /readyz (it has listed Velero's Backups). */
export function serveMetrics(metrics: CoordinatorMetrics, address: { host: string; port: number }): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(metrics.render());
    } else if (path === "/healthz") {
      // 503 makes the kubelet restart the pod: a loop stuck on a half-open connection never recovers by itself.
      const problem = metrics.unhealthy();
      res.writeHead(problem ? 503 : 200).end(problem ? `${problem}\n` : "ok\n");
    } else if (path === "/readyz") {
      res.writeHead(metrics.ready ? 200 : 503).end(metrics.ready ? "ok\n" : "not ready: Velero's Backups not listed yet\n");
    } else res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => resolve(server));
  });
}
