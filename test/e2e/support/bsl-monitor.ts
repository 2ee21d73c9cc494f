// Watches a BackupStorageLocation for the whole of a scenario: every phase it shows, polled once a second, and
// the validations Velero ran (status.lastValidationTime). Velero marks a location Unavailable when its prefix
// holds a top-level directory it does not know, so "Available throughout, validated after twinsnap wrote" is
// the proof that twinsnap keeps to <prefix>/plugins/twinsnap/.
import type { E2eCluster } from "./cluster.js";

export interface BslObservation {
  at: Date;
  phase: string;
  message?: string;
  lastValidationTime?: string;
}

export class BslMonitor {
  readonly seen: BslObservation[] = [];
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private paused = false;

  constructor(
    private readonly cluster: E2eCluster,
    private readonly namespace = "velero",
    private readonly name = "default",
  ) {}

  start(intervalMs = 1000): void {
    this.timer = setInterval(() => {
      if (this.polling || this.paused) return;
      this.polling = this.poll().then(
        () => undefined,
        () => undefined, // the apiserver busy or restarting: the next poll tells
      ).finally(() => (this.polling = undefined));
    }, intervalMs);
  }

  /** For a planned outage of the apiserver (a control-plane restart): nothing to ask meanwhile. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  async poll(): Promise<BslObservation> {
    const bsl = await this.cluster.getJson(["backupstoragelocations.velero.io", this.name, "-n", this.namespace]);
    const seen: BslObservation = {
      at: new Date(),
      phase: bsl.status?.phase ?? "(none)",
      ...(bsl.status?.message ? { message: bsl.status.message } : {}),
      ...(bsl.status?.lastValidationTime ? { lastValidationTime: bsl.status.lastValidationTime } : {}),
    };
    this.seen.push(seen);
    return seen;
  }

  /** Observations whose phase was not Available. */
  notAvailable(): BslObservation[] {
    return this.seen.filter((o) => o.phase !== "Available");
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.polling;
  }
}
