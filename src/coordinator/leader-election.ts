// Leader election with a coordination.k8s.io/v1 Lease, so two coordinator replicas never pair at once.
// As client-go does it: acquire when the lease is free or expired (optimistic concurrency on resourceVersion),
// renew well before it expires, and stop leading (abort the work) as soon as renewing has failed for longer
// than the renew deadline — before another replica may take the lease. On stop, release it for a fast handover.
import type { RawClient } from "../kube/raw-client.js";
import type { Logger } from "../log/logger.js";

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

export interface LeaderElectionOptions {
  client: RawClient;
  namespace: string;
  name: string;
  identity: string;
  log: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  now?: () => Date;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    // The listener goes with the timer: the renew loop sleeps every few seconds on one long-lived signal.
    const stop = () => (clearTimeout(t), resolve());
    const t = setTimeout(() => (signal.removeEventListener("abort", stop), resolve()), ms);
    signal.addEventListener("abort", stop, { once: true });
  });
}

export class LeaderElector {
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => Date;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  isLeader = false;

  constructor(private readonly opts: LeaderElectionOptions) {
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    this.now = opts.now ?? (() => new Date());
    this.sleep = opts.sleep ?? abortableSleep;
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.opts.namespace)}/leases`;
  }

  /** Runs `lead` whenever this replica holds the lease, until `signal` aborts. */
  async run(signal: AbortSignal, lead: (leading: AbortSignal) => Promise<void>): Promise<void> {
    while (!signal.aborted) {
      if (!(await this.tryAcquireOrRenew().catch(() => false))) {
        await this.sleep(this.retryPeriodMs, signal);
        continue;
      }
      this.isLeader = true;
      this.opts.log.info("leading", { lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity });
      const leading = new AbortController();
      const stopLeading = () => leading.abort();
      signal.addEventListener("abort", stopLeading, { once: true });
      const work = lead(leading.signal).catch((err: unknown) => this.opts.log.error("leader work failed", { error: (err as Error).message }));
      let lastRenew = this.now().getTime();
      while (!leading.signal.aborted) {
        await this.sleep(this.retryPeriodMs, leading.signal);
        if (leading.signal.aborted) break;
        if (await this.tryAcquireOrRenew().catch(() => false)) lastRenew = this.now().getTime();
        else if (this.now().getTime() - lastRenew > this.renewDeadlineMs) {
          this.opts.log.warn("lost the lease: could not renew it in time; stopping", { identity: this.opts.identity });
          leading.abort();
        }
      }
      signal.removeEventListener("abort", stopLeading);
      await work;
      this.isLeader = false;
    }
    await this.release().catch(() => undefined);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.now();
    const existing = await this.opts.client.get<Lease>(`${this.path}/${encodeURIComponent(this.opts.name)}`);
    const spec = {
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      renewTime: microTime(now),
    };
    if (!existing) {
      await this.opts.client.send("POST", this.path, {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: this.opts.name, namespace: this.opts.namespace },
        spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
      });
      return true;
    }
    const held = existing.spec.holderIdentity;
    const renewed = existing.spec.renewTime ? Date.parse(existing.spec.renewTime) : 0;
    const expired = renewed + (existing.spec.leaseDurationSeconds ?? 15) * 1000 < now.getTime();
    if (held && held !== this.opts.identity && !expired) return false;
    const transition = held !== this.opts.identity;
    // PUT with the resourceVersion we read: if another replica wrote in between, the apiserver answers 409.
    await this.opts.client.send("PUT", `${this.path}/${encodeURIComponent(this.opts.name)}`, {
      ...existing,
      spec: {
        ...existing.spec,
        ...spec,
        ...(transition ? { acquireTime: microTime(now), leaseTransitions: (existing.spec.leaseTransitions ?? 0) + 1 } : {}),
      },
    });
    return true;
  }

  /** Gives the lease up so another replica takes over at once instead of after it expires. */
  private async release(): Promise<void> {
    const existing = await this.opts.client.get<Lease>(`${this.path}/${encodeURIComponent(this.opts.name)}`);
    if (!existing || existing.spec.holderIdentity !== this.opts.identity) return;
    await this.opts.client.send("PUT", `${this.path}/${encodeURIComponent(this.opts.name)}`, {
      ...existing,
      spec: { ...existing.spec, holderIdentity: "", renewTime: microTime(new Date(0)) },
    });
  }
}
