// Leader election with a coordination.k8s.io/v1 Lease, so two coordinator replicas never pair at once.
// client-go's semantics (k8s.io/client-go/tools/leaderelection), because clocks and connections lie:
// - Expiry is judged by when THIS replica last saw the lease record change (observedTime, on its own monotonic
//   clock), never by comparing the holder's renewTime with the local wall clock: a standby whose clock runs ahead
//   must not take a healthy lease.
// - Renewing is bounded by the renew deadline as a whole: each request gets only the time left before it, so a
//   stalled connection cannot keep an old leader working past the moment another replica may take the lease.
// - A leader stops (aborts its work) as soon as it cannot prove a renewal within the renew deadline, and
//   `holdsLease()` lets every write check that first (fencing): renewDeadline < leaseDuration, so a replica that
//   still passes the check cannot overlap with one that took the lease after observing it unchanged.
// On stop, the lease is released for a fast handover.
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
  /** How long a standby waits, from when it last saw the record change, before taking the lease (default 15 s). */
  leaseDurationMs?: number;
  /** How long the leader keeps trying to renew before it stops leading (default 10 s; less than leaseDurationMs). */
  renewDeadlineMs?: number;
  /** Pause between attempts (default 2 s). */
  retryPeriodMs?: number;
  /** Wall clock, only for the times written into the Lease (acquireTime, renewTime); injectable to test skew. */
  now?: () => Date;
  /** Monotonic milliseconds for every decision (expiry, deadlines); default performance.now. */
  monotonic?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export class LeaderElectionConfigError extends Error {
  override readonly name = "LeaderElectionConfigError";
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

/** What makes two reads of the lease "the same record": any write changes its resourceVersion. */
const recordOf = (l: Lease) => `${l.metadata.resourceVersion ?? ""}|${l.spec.holderIdentity ?? ""}|${l.spec.renewTime ?? ""}`;

export class LeaderElector {
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => Date;
  private readonly monotonic: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** The record as last read or written, and when (monotonic) this replica saw it change. */
  private observed?: { record: string; holder: string; at: number };
  /** When the last successful renewal (or acquisition) started: the lease is ours until that + renewDeadline. */
  private renewedAt?: number;
  isLeader = false;

  constructor(private readonly opts: LeaderElectionOptions) {
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (!(this.renewDeadlineMs < this.leaseDurationMs)) throw new LeaderElectionConfigError(`the renew deadline (${this.renewDeadlineMs} ms) must be shorter than the lease duration (${this.leaseDurationMs} ms)`);
    if (!(this.retryPeriodMs < this.renewDeadlineMs)) throw new LeaderElectionConfigError(`the retry period (${this.retryPeriodMs} ms) must be shorter than the renew deadline (${this.renewDeadlineMs} ms)`);
    this.now = opts.now ?? (() => new Date());
    this.monotonic = opts.monotonic ?? (() => performance.now());
    this.sleep = opts.sleep ?? abortableSleep;
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.opts.namespace)}/leases`;
  }

  /**
   * Whether this replica may still write as the leader: it leads and its last renewal started less than the renew
   * deadline ago. Checked before every write (fencing), not only by the renew loop, which may be stuck.
   */
  holdsLease(): boolean {
    return this.isLeader && this.renewedAt !== undefined && this.monotonic() - this.renewedAt < this.renewDeadlineMs;
  }

  /** Runs `lead` whenever this replica holds the lease, until `signal` aborts. */
  async run(signal: AbortSignal, lead: (leading: AbortSignal) => Promise<void>): Promise<void> {
    while (!signal.aborted) {
      const started = this.monotonic();
      // Acquiring is bounded too: a stalled request must not come back much later and act on a stale read.
      if (!(await this.tryAcquireOrRenew(started + this.renewDeadlineMs, signal).catch(() => false))) {
        await this.sleep(this.retryPeriodMs, signal);
        continue;
      }
      this.renewedAt = started;
      this.isLeader = true;
      this.opts.log.info("leading", { lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity });
      const leading = new AbortController();
      const stopLeading = () => leading.abort();
      signal.addEventListener("abort", stopLeading, { once: true });
      // A deadline timer beside the renew loop: whatever the loop waits for, leading stops at the deadline.
      let fence: NodeJS.Timeout | undefined;
      const armFence = () => {
        clearTimeout(fence);
        fence = setTimeout(() => {
          if (!leading.signal.aborted) this.opts.log.warn("lost the lease: no renewal within the renew deadline; stopping", { identity: this.opts.identity });
          leading.abort();
        }, Math.max(0, this.renewedAt! + this.renewDeadlineMs - this.monotonic()));
      };
      armFence();
      const work = lead(leading.signal).catch((err: unknown) => this.opts.log.error("leader work failed", { error: (err as Error).message }));
      while (!leading.signal.aborted) {
        await this.sleep(this.retryPeriodMs, leading.signal);
        if (leading.signal.aborted) break;
        // Retry until the renew deadline of the last success; every attempt gets only the time left.
        const attemptStarted = this.monotonic();
        const renewed = await this.tryAcquireOrRenew(this.renewedAt! + this.renewDeadlineMs, leading.signal).catch((err: unknown) => {
          this.opts.log.debug("renewing the lease failed", { error: (err as Error).message });
          return false;
        });
        if (renewed && !leading.signal.aborted) {
          this.renewedAt = attemptStarted;
          armFence();
        } else if (!renewed && this.observed && this.observed.holder !== this.opts.identity && this.observed.holder !== "") {
          this.opts.log.warn("lost the lease: another replica holds it; stopping", { identity: this.opts.identity, holder: this.observed.holder });
          leading.abort();
        }
      }
      clearTimeout(fence);
      this.isLeader = false;
      signal.removeEventListener("abort", stopLeading);
      await work;
    }
    await this.release().catch(() => undefined);
  }

  /**
   * One attempt, finished before `deadline` (monotonic) or failed. Returns whether this replica holds the lease.
   */
  private async tryAcquireOrRenew(deadline: number, signal: AbortSignal): Promise<boolean> {
    const left = () => {
      const ms = deadline - this.monotonic();
      if (ms <= 0) throw new Error("the renew deadline passed");
      return { deadlineMs: ms, signal };
    };
    const leasePath = `${this.path}/${encodeURIComponent(this.opts.name)}`;
    const existing = await this.opts.client.get<Lease>(leasePath, left());
    const now = this.now();
    const spec = {
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      renewTime: microTime(now),
    };
    if (!existing) {
      const created = await this.opts.client.send<Lease>("POST", this.path, {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: this.opts.name, namespace: this.opts.namespace },
        spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
      }, undefined, left());
      this.observe(created);
      return true;
    }
    this.observe(existing);
    const held = existing.spec.holderIdentity ?? "";
    // The holder's own duration, as client-go reads it; a record unchanged for that long (by our clock) is expired.
    const durationMs = (existing.spec.leaseDurationSeconds ?? Math.ceil(this.leaseDurationMs / 1000)) * 1000;
    const expired = this.monotonic() - this.observed!.at > durationMs;
    if (held !== "" && held !== this.opts.identity && !expired) return false;
    const transition = held !== this.opts.identity;
    // PUT with the resourceVersion we read: if another replica wrote in between, the apiserver answers 409.
    const updated = await this.opts.client.send<Lease>("PUT", leasePath, {
      ...existing,
      spec: {
        ...existing.spec,
        ...spec,
        ...(transition ? { acquireTime: microTime(now), leaseTransitions: (existing.spec.leaseTransitions ?? 0) + 1 } : {}),
      },
    }, undefined, left());
    this.observe(updated);
    return true;
  }

  private observe(lease: Lease | undefined): void {
    if (!lease?.spec) return;
    const record = recordOf(lease);
    if (this.observed?.record !== record) this.observed = { record, holder: lease.spec.holderIdentity ?? "", at: this.monotonic() };
  }

  /** Gives the lease up so another replica takes over at once instead of after it expires. */
  private async release(): Promise<void> {
    const bound = { deadlineMs: this.renewDeadlineMs };
    const existing = await this.opts.client.get<Lease>(`${this.path}/${encodeURIComponent(this.opts.name)}`, bound);
    if (!existing || existing.spec.holderIdentity !== this.opts.identity) return;
    await this.opts.client.send("PUT", `${this.path}/${encodeURIComponent(this.opts.name)}`, {
      ...existing,
      spec: { ...existing.spec, holderIdentity: "", renewTime: microTime(new Date(0)) },
    }, undefined, bound);
  }
}
