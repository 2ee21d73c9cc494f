// The real-node harness runs a kubelet, CNI and kube-proxy's iptables rules: outside the network namespace that
// scripts/peers/node-netns.sh makes, it must refuse before it starts anything.
import assert from "node:assert/strict";
import { NotInNodeNamespaceError, startNodeCluster } from "../support/node/node-cluster.js";

describe("the real-node harness outside its network namespace", () => {
  it("refuses to start, saying how to run it", async () => {
    const saved = { ns: process.env.NODE_NETNS, ip: process.env.NODE_IP };
    delete process.env.NODE_NETNS;
    process.env.NODE_IP = "10.77.0.10"; // not an address of this (host) namespace
    try {
      await assert.rejects(startNodeCluster({ pinnedSandbox: "registry.twinsnap.test/twinsnap/pause:3.10" }), (err: Error) => {
        assert.ok(err instanceof NotInNodeNamespaceError);
        assert.match(err.message, /npm run test:node.*scripts\/peers\/node-netns\.sh/);
        return true;
      });
    } finally {
      if (saved.ns === undefined) delete process.env.NODE_NETNS; else process.env.NODE_NETNS = saved.ns;
      if (saved.ip === undefined) delete process.env.NODE_IP; else process.env.NODE_IP = saved.ip;
    }
  });
});
