// Two coordinator replicas and one Lease on a real apiserver: one leads, the other stands by and takes over
// when the leader stops.
import assert from "node:assert/strict";
import { LeaderElector } from "../../src/coordinator/leader-election.js";
import { loadClusterConnection } from "../../src/kube/kubeconfig.js";
import { rawClient } from "../../src/kube/raw-client.js";
import { silentLogger } from "../../src/log/logger.js";
import { testCluster } from "../support/test-clusters.js";

describe("leader election with a Lease", function () {
  this.timeout(120_000);

  it("lets one replica lead at a time and hands over when the leader stops", async () => {
    const cluster = await testCluster("source", { withControllerManager: true });
    await cluster.kubectl(["create", "namespace", "twinsnap-election"]).catch(() => undefined);
    const client = rawClient(await loadClusterConnection({ env: {}, kubeconfigPath: cluster.kubeconfigPath }));
    let leaders = 0;
    let mostAtOnce = 0;
    const led: string[] = [];
    const replica = (identity: string) => {
      const abort = new AbortController();
      const elector = new LeaderElector({ client, namespace: "twinsnap-election", name: "twinsnap-coordinator", identity, log: silentLogger(), leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 });
      const done = elector.run(abort.signal, async (leading) => {
        leaders++;
        mostAtOnce = Math.max(mostAtOnce, leaders);
        led.push(identity);
        await new Promise<void>((r) => leading.addEventListener("abort", () => r(), { once: true }));
        leaders--;
      });
      return { elector, stop: async () => (abort.abort(), done) };
    };
    const until = async (check: () => boolean) => {
      for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(check());
    };
    const a = replica("replica-a");
    await until(() => a.elector.isLeader);
    const b = replica("replica-b");
    await new Promise((r) => setTimeout(r, 1500)); // several of b's attempts while a renews
    assert.equal(b.elector.isLeader, false, "the lease is held");
    await a.stop();
    await until(() => b.elector.isLeader);
    await b.stop();
    client.close();
    assert.deepEqual(led, ["replica-a", "replica-b"]);
    assert.equal(mostAtOnce, 1, "never two leaders at once");
    const lease = JSON.parse(await cluster.kubectl(["get", "lease", "twinsnap-coordinator", "-n", "twinsnap-election", "-o", "json"]));
    assert.equal(lease.spec.holderIdentity, "", "released on stop");
    assert.equal(lease.spec.leaseTransitions, 1);
  });
});
