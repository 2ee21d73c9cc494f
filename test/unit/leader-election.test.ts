// Leader election under the faults that matter: a connection that stalls and a clock that runs ahead. The Lease
// lives in a small in-memory apiserver (optimistic concurrency on resourceVersion, as the real one); each replica
// talks to it through its own connection, which the test can stall. Never two replicas writing as leader.
import assert from "node:assert/strict";
import { LeaderElector } from "../../src/coordinator/leader-election.js";
import { ApiRequestError, type RawClient, type RequestOptions } from "../../src/kube/raw-client.js";
import { silentLogger } from "../../src/log/logger.js";

interface StoredLease {
  metadata: { name: string; namespace: string; resourceVersion: string };
  spec: Record<string, unknown>;
}

/** The apiserver's Lease endpoint, in memory. */
class LeaseApi {
  lease?: StoredLease;
  private rv = 0;
  get(): StoredLease | undefined {
    return this.lease && structuredClone(this.lease);
  }
  write(method: string, body: StoredLease): StoredLease {
    if (method === "POST" && this.lease) throw new ApiRequestError("POST leases", 409, "already exists", false);
    if (method === "PUT" && this.lease?.metadata.resourceVersion !== body.metadata.resourceVersion) throw new ApiRequestError("PUT lease", 409, "conflict", false);
    this.lease = { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: String(++this.rv) } };
    return structuredClone(this.lease);
  }
}

/** One replica's connection: requests go through unless stalled; a stalled one hangs until its deadline or signal. */
class Connection implements RawClient {
  stalled = false;
  constructor(private readonly api: LeaseApi) {}
  close(): void {}
  async *watch<T>(): AsyncGenerator<T> {}
  private async pass<T>(per: RequestOptions | undefined, answer: () => T): Promise<T> {
    await new Promise((r) => setTimeout(r, 5));
    if (!this.stalled) return answer();
    return new Promise<T>((_, reject) => {
      // As the raw client: without a deadline the default idle timeout (30 s) is all that ends it.
      const ms = per?.deadlineMs ?? 30_000;
      const t = setTimeout(() => reject(new ApiRequestError("stalled", undefined, `no complete answer within ${ms} ms`, true)), ms);
      per?.signal?.addEventListener("abort", () => (clearTimeout(t), reject(new Error("abandoned"))), { once: true });
    });
  }
  get<T>(_path: string, per?: RequestOptions): Promise<T | undefined> {
    return this.pass(per, () => this.api.get() as T | undefined);
  }
  send<T>(method: "POST" | "PUT" | "PATCH" | "DELETE", _path: string, body: unknown, _ct?: string, per?: RequestOptions): Promise<T> {
    return this.pass(per, () => this.api.write(method, body as StoredLease) as T);
  }
}

/** Who wrote as leader, when: a replica's work writes every 20 ms while its elector says it holds the lease. */
function replica(api: LeaseApi, identity: string, writes: { who: string; at: number }[], opts: { skewMs?: number } = {}) {
  const connection = new Connection(api);
  const elector = new LeaderElector({
    client: connection,
    namespace: "velero",
    name: "twinsnap-coordinator",
    identity,
    log: silentLogger(),
    leaseDurationMs: 1500,
    renewDeadlineMs: 1000,
    retryPeriodMs: 200,
    now: () => new Date(Date.now() + (opts.skewMs ?? 0)),
  });
  const abort = new AbortController();
  const done = elector.run(abort.signal, async (leading) => {
    while (!leading.aborted) {
      if (elector.holdsLease()) writes.push({ who: identity, at: performance.now() });
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  return { connection, elector, stop: async () => (abort.abort(), done) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** No write by one replica between two writes of the other: leadership moved at most once per change of writer. */
function assertNeverTwoWriters(writes: { who: string; at: number }[]): void {
  const changes = writes.filter((w, i) => i > 0 && writes[i - 1]!.who !== w.who);
  const order = writes.map((w) => w.who).filter((w, i, all) => i === 0 || all[i - 1] !== w);
  assert.ok(changes.length <= 1, `leadership went back and forth: ${order.join(" -> ")}`);
}

describe("leader election under faults", function () {
  this.timeout(20_000);

  it("a stalled connection: the old leader stops writing before the standby takes the lease", async () => {
    const api = new LeaseApi();
    const writes: { who: string; at: number }[] = [];
    const a = replica(api, "a", writes);
    await sleep(400);
    assert.equal(a.elector.isLeader, true);
    const b = replica(api, "b", writes);
    await sleep(600);
    assert.equal(b.elector.isLeader, false, "the lease is held and renewed");
    a.connection.stalled = true; // a's requests now hang: it can neither renew nor learn it lost
    const stalledAt = performance.now();
    for (let i = 0; i < 60 && !b.elector.isLeader; i++) await sleep(100);
    assert.equal(b.elector.isLeader, true, "b takes over once the lease went unrenewed");
    await sleep(500);
    const lastA = Math.max(...writes.filter((w) => w.who === "a").map((w) => w.at));
    const firstB = Math.min(...writes.filter((w) => w.who === "b").map((w) => w.at));
    assert.ok(lastA < firstB, `a wrote at ${(lastA - stalledAt).toFixed(0)} ms after the stall, b first at ${(firstB - stalledAt).toFixed(0)} ms`);
    assert.ok(lastA - stalledAt < 1000 + 100, "a stopped within its renew deadline");
    assert.equal(a.elector.isLeader, false);
    assertNeverTwoWriters(writes);
    a.connection.stalled = false;
    await Promise.all([a.stop(), b.stop()]);
  });

  for (const skewMs of [2000, -2000, 60_000]) {
    it(`a standby whose clock is ${skewMs > 0 ? "ahead" : "behind"} by ${skewMs / 1000} s never takes a lease that is being renewed`, async () => {
      const api = new LeaseApi();
      const writes: { who: string; at: number }[] = [];
      const a = replica(api, "a", writes);
      await sleep(400);
      const b = replica(api, "b", writes, { skewMs });
      await sleep(3000); // two lease durations of b's attempts
      assert.equal(b.elector.isLeader, false);
      assert.deepEqual([...new Set(writes.map((w) => w.who))], ["a"]);
      await Promise.all([a.stop(), b.stop()]);
    });
  }

  it("a leader whose clock runs ahead keeps its lease; the standby takes it over only after the leader is gone", async () => {
    const api = new LeaseApi();
    const writes: { who: string; at: number }[] = [];
    const a = replica(api, "a", writes, { skewMs: 5000 });
    await sleep(400);
    const b = replica(api, "b", writes);
    await sleep(2000);
    assert.equal(b.elector.isLeader, false);
    await a.stop(); // releases the lease: b takes it at once
    for (let i = 0; i < 20 && !b.elector.isLeader; i++) await sleep(100);
    assert.equal(b.elector.isLeader, true);
    assertNeverTwoWriters(writes);
    await b.stop();
  });

  it("refuses a renew deadline that is not shorter than the lease duration", () => {
    assert.throws(() => new LeaderElector({ client: new Connection(new LeaseApi()), namespace: "v", name: "l", identity: "x", log: silentLogger(), leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }), /must be shorter than the lease duration/);
  });
});
