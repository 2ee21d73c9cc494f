// The restore run lock on S3 (moto on loopback): PutObject with If-None-Match: * makes exactly one of many
// concurrent runs the holder, as link(2) does on the file store.
import assert from "node:assert/strict";
import { acquireRestoreLock, RestoreRunLockedError, restoreLockKey } from "../../src/recovery/restore-run-lock.js";
import { openStore } from "../../src/store/open-store.js";
import { startS3Server, type S3Server } from "../support/s3-server.js";

describe("restore run lock on S3", function () {
  this.timeout(120_000);
  let s3: S3Server;
  before(async () => {
    s3 = await startS3Server({ buckets: ["locks"] });
  });
  after(async () => s3?.stop());

  it("creates a key only if absent; of six runs at once, one holds the lock and the others are told who", async () => {
    const store = await openStore(`s3://locks/dr?endpoint=${s3.url}&forcePathStyle=true`, { aws: { credentials: s3.credentials } });
    try {
      assert.ok(store.createIfAbsent, "the S3 store creates conditionally");
      assert.equal(await store.createIfAbsent!("probe/once", "first"), true);
      assert.equal(await store.createIfAbsent!("probe/once", "second"), false);
      const now = () => new Date("2026-12-04T10:00:00Z");
      const attempts = await Promise.allSettled(["a", "b", "c", "d", "e", "f"].map((runId) => acquireRestoreLock({ store, backupUid: "u1", owner: { host: `node-${runId}`, pid: 1, user: "root", runId }, now })));
      assert.equal(attempts.filter((a) => a.status === "fulfilled").length, 1);
      for (const a of attempts) if (a.status === "rejected") assert.ok(a.reason instanceof RestoreRunLockedError, String(a.reason));
      assert.deepEqual(await s3.keys("locks", "dr/restores/"), [`dr/${restoreLockKey("u1")}`]);
    } finally {
      store.close?.();
    }
  });
});
