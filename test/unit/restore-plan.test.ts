// Which recovery path a pair calls for, and the typed steps `restore plan` prints and `restore run` carries out.
import assert from "node:assert/strict";
import type { PairRecord } from "../../src/pairs/pair-record.js";
import { continueCommand, decideMode, formatPlan, restorePlan, type PlanOptions } from "../../src/recovery/restore-plan.js";

const pair = {
  apiVersion: "twinsnap.dev/v1alpha1",
  kind: "PairRecord",
  backup: { name: "nightly-1", namespace: "velero", uid: "u1", phase: "Completed" },
  state: "Paired",
  clusterIdentity: "cluster-a",
  snapshot: { revision: "4242" },
  coordinatorVersion: "0.1.0",
  updatedAt: "2026-11-24T00:00:00Z",
} as PairRecord;
const base = { pair, store: "file:///var/lib/twinsnap", veleroNamespace: "velero" };
const member = { member: "cp-1", cluster: [{ name: "cp-1", peerUrl: "https://10.0.0.1:2380" }], dataDir: "/var/lib/etcd-restored", etcdutl: "/usr/bin/etcdutl" };
const commands = (p: ReturnType<typeof restorePlan>) => p.steps.flatMap((s) => s.commands).join("\n");
const shape = (p: ReturnType<typeof restorePlan>) => p.steps.map((s) => `${s.kind}:${s.id}`);

describe("restore plans", () => {
  const modes: { cluster: PlanOptions["cluster"]; override?: "same-cluster" | "new-cluster"; mode: string; warning?: RegExp }[] = [
    { cluster: { identity: "cluster-a" }, mode: "same-cluster" },
    { cluster: { identity: "cluster-b" }, mode: "new-cluster" },
    // Positive evidence only: the pair's own recorded apiserver refuses too.
    { cluster: { unreachable: "connect ECONNREFUSED", recordedEndpoints: { lost: true, detail: "https://10.0.0.1:6443 refuses connections" } }, mode: "same-cluster" },
    // No recorded endpoint to confirm it: nothing is chosen, the plan says what the operator can do.
    { cluster: { unreachable: "connect ECONNREFUSED" }, mode: "undecided" },
    // The backed-up cluster answers at its recorded endpoint: the kubeconfig is what is wrong.
    { cluster: { unreachable: "connect ECONNREFUSED", recordedEndpoints: { lost: false, detail: "https://10.0.0.1:6443 accepts connections" } }, mode: "undecided" },
    // A problem on this side is never evidence of a lost control plane.
    { cluster: { localProblem: "cannot read kubeconfig /nonexistent: ENOENT" }, mode: "undecided" },
    { cluster: { localProblem: "cannot read kubeconfig /nonexistent: ENOENT" }, override: "new-cluster", mode: "new-cluster", warning: /--mode new-cluster chosen by you: the cluster could not be identified: cannot read kubeconfig/ },
    { cluster: { localProblem: "TLS failed" }, override: "same-cluster", mode: "same-cluster", warning: /--mode same-cluster chosen by you/ },
    { cluster: { identity: "cluster-b" }, override: "same-cluster", mode: "same-cluster", warning: /--mode same-cluster overrides the detected new-cluster/ },
    { cluster: { identity: "cluster-a" }, override: "new-cluster", mode: "new-cluster", warning: /--mode new-cluster overrides the detected same-cluster/ },
  ];
  for (const c of modes) {
    it(`${JSON.stringify(c.cluster)}${c.override ? ` with --mode ${c.override}` : ""}: ${c.mode}`, () => {
      const plan = restorePlan({ ...base, cluster: c.cluster, ...(c.override ? { override: c.override } : {}) });
      assert.equal(plan.mode, c.mode);
      if (c.warning) assert.match(plan.warnings.join("\n"), c.warning);
      else assert.deepEqual(plan.warnings, []);
    });
  }

  it("the same cluster, one member: automatic and manual steps in the order an operator works", () => {
    const plan = restorePlan({ ...base, cluster: { identity: "cluster-a" }, etcd: member });
    assert.deepEqual(shape(plan), [
      "automatic:verify-snapshot",
      "manual:stop-control-plane",
      "automatic:restore-etcd",
      "manual:start-control-plane",
      "automatic:wait-apiserver",
      "automatic:restore-volumes",
    ]);
    assert.equal(plan.blocked, undefined);
    assert.match(commands(plan), /twinsnap etcd restore --backup nightly-1 --store file:\/\/\/var\/lib\/twinsnap --name cp-1 --initial-advertise-peer-urls https:\/\/10.0.0.1:2380 --data-dir \/var\/lib\/etcd-restored/);
    assert.match(formatPlan(plan, pair), /^3\. \[twinsnap\] Restore this member \(cp-1\) to etcd revision 4242 into \/var\/lib\/etcd-restored/m);
    assert.match(formatPlan(plan, pair), /^2\. \[you\] Stop the API servers and etcd/m);
    assert.match(plan.runCommand, /^twinsnap restore run --backup nightly-1 --store file:\/\/\/var\/lib\/twinsnap --name cp-1 /);
    assert.equal(continueCommand(plan, "stop-control-plane"), "twinsnap restore run --backup nightly-1 --store file:///var/lib/twinsnap --continue stop-control-plane");
  });

  it("the restore action carries the member, the data directory and the revision bump; the Velero one only volume data", () => {
    const plan = restorePlan({ ...base, cluster: { identity: "cluster-a" }, etcd: { ...member, bumpRevision: 5000 } });
    const etcd = plan.steps.find((s) => s.id === "restore-etcd");
    assert.ok(etcd?.kind === "automatic" && etcd.action.type === "restore-etcd");
    assert.deepEqual(etcd.action.target, { ...member, bumpRevision: 5000, force: false });
    const volumes = plan.steps.find((s) => s.id === "restore-volumes");
    assert.ok(volumes?.kind === "automatic" && volumes.action.type === "velero-restore");
    assert.deepEqual(volumes.action.restore.spec, { backupName: "nightly-1", includedResources: ["persistentvolumeclaims", "persistentvolumes", "pods"], existingResourcePolicy: "none" });
    assert.equal(volumes.action.replaceStaleBackup, true);
    assert.deepEqual(volumes.commands, ["velero restore create nightly-1-volumes --from-backup nightly-1 --include-resources persistentvolumeclaims,persistentvolumes,pods --existing-resource-policy none --wait -n velero"]);
  });

  it("several members: a manual step with the exact command for each other member, before etcd starts", () => {
    const cluster = [{ name: "cp-1", peerUrl: "https://10.0.0.1:2380" }, { name: "cp-2", peerUrl: "https://10.0.0.2:2380" }, { name: "cp-3", peerUrl: "https://10.0.0.3:2380" }];
    const plan = restorePlan({ ...base, cluster: { identity: "cluster-a" }, etcd: { ...member, cluster } });
    const ids = plan.steps.map((s) => s.id);
    assert.ok(ids.indexOf("restore-other-members") === ids.indexOf("restore-etcd") + 1 && ids.indexOf("restore-other-members") < ids.indexOf("start-control-plane"));
    const others = plan.steps.find((s) => s.id === "restore-other-members")!;
    assert.equal(others.kind, "manual");
    assert.equal(others.commands.length, 2);
    assert.match(others.commands[1]!, /^on cp-3: twinsnap etcd restore --backup nightly-1 .*--name cp-3 --initial-cluster cp-1=https:\/\/10.0.0.1:2380,cp-2=https:\/\/10.0.0.2:2380,cp-3=https:\/\/10.0.0.3:2380 --initial-advertise-peer-urls https:\/\/10.0.0.3:2380/);
  });

  it("an encrypted pair: every command that reads the snapshot carries the identity given, or says which flag it needs", () => {
    const encrypted = { ...pair, snapshot: { revision: "4242", encryption: { format: "age", recipients: ["age1x"] } } } as PairRecord;
    const cluster = [{ name: "cp-1", peerUrl: "https://10.0.0.1:2380" }, { name: "cp-2", peerUrl: "https://10.0.0.2:2380" }];
    const given = restorePlan({ ...base, pair: encrypted, cluster: { identity: "cluster-a" }, etcd: { ...member, cluster }, keyFlags: ["--identity", "secret:dr/snapshot-key"] });
    const reading = given.steps.filter((s) => ["verify-snapshot", "restore-etcd", "restore-other-members"].includes(s.id)).flatMap((s) => s.commands);
    assert.equal(reading.length, 3);
    for (const c of [...reading, given.runCommand, given.resumeCommand]) assert.match(c, /--identity secret:dr\/snapshot-key/, c);
    const placeholder = restorePlan({ ...base, pair: encrypted, cluster: { identity: "cluster-a" }, etcd: member });
    assert.match(commands(placeholder), /twinsnap etcd restore .* --identity <age-identity-file>/);
    const byPassphrase = restorePlan({ ...base, pair: { ...encrypted, snapshot: { revision: "1", encryption: { format: "age", recipients: [], passphrase: true } } } as unknown as PairRecord, cluster: { identity: "cluster-a" }, etcd: member });
    assert.match(byPassphrase.runCommand, /--passphrase-file <passphrase-file>/);
    assert.doesNotMatch(commands(restorePlan({ ...base, cluster: { identity: "cluster-a" }, etcd: member })), /--identity|--passphrase-file/, "nothing for a plain pair");
  });

  const blockers: { name: string; opts: Partial<PlanOptions>; blocked: RegExp }[] = [
    { name: "no member given", opts: {}, blocked: /needs --name MEMBER, --initial-advertise-peer-urls URL/ },
    { name: "a member not in --initial-cluster", opts: { etcd: { ...member, member: "cp-9" } }, blocked: /--name naming one of the --initial-cluster members \(cp-1\)/ },
    { name: "no snapshot", opts: { etcd: member, pair: { ...pair, snapshot: undefined, state: "Failed", reason: "etcd down" } as PairRecord }, blocked: /no etcd snapshot \(Failed: etcd down\).*--mode new-cluster/ },
  ];
  for (const b of blockers) {
    it(`the same-cluster run is blocked, with the reason, when: ${b.name}`, () => {
      const plan = restorePlan({ ...base, cluster: { identity: "cluster-a" }, ...b.opts });
      assert.match(plan.blocked ?? "", b.blocked);
      assert.match(formatPlan(plan, b.opts.pair ?? pair), /It cannot start yet/);
    });
  }

  it("placeholders where the member is not known, so the plan still reads as a runbook", () => {
    const text = formatPlan(restorePlan({ ...base, cluster: { identity: "cluster-a" } }), pair);
    assert.match(text, /--name <member> --initial-advertise-peer-urls https:\/\/<member-ip>:2380 --data-dir \/var\/lib\/etcd-twinsnap/);
  });

  it("a new cluster: Velero only, the install step checked by twinsnap, and why the etcd snapshot must not be used", () => {
    const plan = restorePlan({ ...base, cluster: { identity: "cluster-b" } });
    assert.deepEqual(shape(plan), ["manual:install-velero", "automatic:restore-objects"]);
    assert.equal(plan.steps[0]!.kind === "manual" && plan.steps[0]!.check, "velero-installed");
    assert.doesNotMatch(commands(plan), /etcd restore/);
    assert.match(formatPlan(plan, pair), /impersonate the old one/);
    assert.match(commands(plan), /velero restore create nightly-1-migrate --from-backup nightly-1 --wait -n velero/);
    assert.equal(plan.blocked, undefined, "no snapshot or member is needed");
  });

  it("a resumed run keeps its path whatever the cluster answers now", () => {
    const plan = restorePlan({ ...base, cluster: {}, etcd: member, resumeOf: { mode: "same-cluster", startedAt: "2026-12-01T22:00:00.000Z" } });
    assert.equal(plan.mode, "same-cluster");
    assert.deepEqual(plan.warnings, []);
    assert.match(plan.why, /the run started at 2026-12-01T22:00:00.000Z/);
    assert.equal(decideMode(pair, {}).mode, "undecided", "without a saved run, an empty answer proves nothing");
  });

  it("a kubeconfig typo stops the plan with what is wrong, and names both ways on", () => {
    const plan = restorePlan({ ...base, cluster: { localProblem: "cannot read kubeconfig /nonexistent: ENOENT: no such file or directory" }, etcd: member });
    assert.equal(plan.mode, "undecided");
    assert.deepEqual(plan.steps, []);
    assert.match(plan.blocked!, /cannot read kubeconfig \/nonexistent.*not evidence that its control plane is lost.*--mode new-cluster.*--mode same-cluster/);
    const text = formatPlan(plan, pair);
    assert.match(text, /^Path: none chosen/m);
    assert.doesNotMatch(text, /etcd restore|same cluster —/);
  });

  it("warns that an after-backup snapshot is later than the backup's volume data", () => {
    const late = { ...pair, snapshotTiming: "after-backup", snapshot: { ...pair.snapshot, startedAt: "2026-11-24T03:00:00Z" } } as PairRecord;
    const plan = restorePlan({ ...base, pair: late, cluster: { identity: "cluster-a" }, etcd: member });
    assert.match(plan.warnings.join("\n"), /taken after the backup had finished.*2026-11-24T03:00:00Z/);
    assert.deepEqual(restorePlan({ ...base, pair: late, cluster: { identity: "cluster-b" } }).warnings, [], "Velero alone uses no snapshot");
  });

  it("marks what a run has done and where it waits", () => {
    const plan = restorePlan({ ...base, cluster: { identity: "cluster-a" }, etcd: member });
    const text = formatPlan(plan, pair, { "verify-snapshot": "done", "stop-control-plane": "waiting" });
    assert.match(text, /^1\. \[twinsnap\] Check the pair.* — done$/m);
    assert.match(text, /^2\. \[you\] Stop the API servers.* — waiting for you$/m);
  });
});
