// One restore run per backup: the lock in the store, created only if absent, naming its holder, outlived by its
// expiry when its run died.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireRestoreLock, RestoreRunLockedError, restoreLockKey } from "../../src/recovery/restore-run-lock.js";
import { FilesystemStore } from "../../src/store/filesystem-store.js";

const owner = (runId: string) => ({ host: `node-${runId}`, pid: 4242, user: "root", runId });

describe("restore run lock", () => {
  it("of many runs started at once, exactly one gets it; the others are told who holds it", async () => {
    const store = new FilesystemStore(mkdtempSync(join(tmpdir(), "twinsnap-lock-")));
    const now = () => new Date("2026-12-04T10:00:00Z");
    const attempts = await Promise.allSettled(["a", "b", "c", "d", "e", "f"].map((id) => acquireRestoreLock({ store, backupUid: "u1", owner: owner(id), now })));
    const won = attempts.filter((a) => a.status === "fulfilled");
    assert.equal(won.length, 1);
    const holder = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireRestoreLock>>>).value.record.owner;
    for (const a of attempts.filter((x) => x.status === "rejected")) {
      const e = (a as PromiseRejectedResult).reason as RestoreRunLockedError;
      assert.ok(e instanceof RestoreRunLockedError);
      assert.match(e.message, new RegExp(`root@node-${holder.runId} pid 4242 \\(run ${holder.runId}\\) since 2026-12-04T10:00:00.000Z.*expires at 2026-12-04T10:10:00.000Z`));
    }
  });

  it("is released at the end, and a lock whose run died is taken over once it expired", async () => {
    const store = new FilesystemStore(mkdtempSync(join(tmpdir(), "twinsnap-lock-")));
    let t = Date.parse("2026-12-04T10:00:00Z");
    const now = () => new Date(t);
    const first = await acquireRestoreLock({ store, backupUid: "u1", owner: owner("first"), now, ttlMs: 60_000 });
    await first.release();
    assert.equal(await store.head(restoreLockKey("u1")), undefined);
    await acquireRestoreLock({ store, backupUid: "u1", owner: owner("dies"), now, ttlMs: 60_000 }); // never released
    t += 30_000;
    await assert.rejects(acquireRestoreLock({ store, backupUid: "u1", owner: owner("early"), now, ttlMs: 60_000 }), /run dies/);
    t += 31_000;
    const later = await acquireRestoreLock({ store, backupUid: "u1", owner: owner("later"), now, ttlMs: 60_000 });
    assert.equal(later.record.owner.runId, "later");
  });

  it("a refresh keeps it; a run whose lock was taken over learns it", async () => {
    const store = new FilesystemStore(mkdtempSync(join(tmpdir(), "twinsnap-lock-")));
    let t = 0;
    const now = () => new Date(t);
    const slow = await acquireRestoreLock({ store, backupUid: "u1", owner: owner("slow"), now, ttlMs: 60_000 });
    t = 50_000;
    await slow.refresh();
    t = 100_000;
    await assert.rejects(acquireRestoreLock({ store, backupUid: "u1", owner: owner("other"), now, ttlMs: 60_000 }), RestoreRunLockedError);
    t = 200_000;
    await acquireRestoreLock({ store, backupUid: "u1", owner: owner("other"), now, ttlMs: 60_000 });
    await assert.rejects(slow.refresh(), /another restore run of this backup is under way: root@node-other/);
  });
});

describe("restore run lock of a dead run", () => {
  it("is taken over at once when its holder is known dead (same host, pid gone), not before otherwise", async () => {
    const store = new FilesystemStore(mkdtempSync(join(tmpdir(), "twinsnap-lock-")));
    const now = () => new Date("2026-12-04T10:00:00Z");
    await acquireRestoreLock({ store, backupUid: "u1", owner: owner("killed"), now });
    await assert.rejects(acquireRestoreLock({ store, backupUid: "u1", owner: owner("next"), now, holderIsDead: () => false }), RestoreRunLockedError);
    const next = await acquireRestoreLock({ store, backupUid: "u1", owner: owner("next"), now, holderIsDead: (o) => o.runId === "killed" });
    assert.equal(next.record.owner.runId, "next");
  });
});
