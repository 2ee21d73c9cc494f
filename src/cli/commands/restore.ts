// `twinsnap restore plan | run`: recovery from a backup's pair, as steps, decided on evidence.
import { command, type Flags } from "../command.js";
import { clusterOptions, contextFlag, identityFlag, passphraseFileFlag, ageKeyOptions, kubeconfigFlag, outputFlag, parseOutput, storeFlag, veleroNamespaceFlag } from "../common-flags.js";
import { parseDuration } from "../parse-flags.js";
import { UsageError } from "../usage-error.js";
import { REPORT_FORMATS } from "../report.js";

/** This node's etcd member, as `twinsnap etcd restore` takes it: the plan's commands then carry real values. */
const etcdMemberFlags = {
  name: { type: "string", value: "MEMBER", help: "this node's etcd member name (same-cluster path)" },
  "initial-cluster": { type: "string", value: "a=URL,b=URL", help: "every member and its peer URL" },
  "initial-advertise-peer-urls": { type: "string", value: "URL", help: "this member's peer URL (a single member)" },
  "data-dir": { type: "string", value: "DIR", help: "where the restored data dir goes (default /var/lib/etcd-twinsnap)" },
  etcdutl: { type: "string", value: "PATH", help: "the etcdutl binary (default: etcdutl on PATH)" },
  "bump-revision": { type: "string", value: "N", help: "raise the revision by N and mark it compacted (default 1000000000)" },
  force: { type: "boolean", help: "replace an existing data dir" },
} as const satisfies Flags;

const common = {
  backup: { type: "string", value: "NAME", help: "the Velero backup to recover from (required)" },
  store: storeFlag,
  kubeconfig: kubeconfigFlag,
  context: contextFlag,
  "velero-namespace": veleroNamespaceFlag,
  mode: { type: "string", value: "same-cluster|new-cluster", help: "take this path instead of the one the evidence points to" },
} as const satisfies Flags;

/** What only a run does; `restore plan` accepts them too, so that a plan and its run take the same command line. */
const runFlags = {
  "confirm-same-cluster": { type: "boolean", help: "consent to the same-cluster path, which stops the control plane and replaces etcd's data" },
  "dry-run": { type: "boolean", help: "print the steps, do nothing" },
  timeout: { type: "string", value: "DURATION", default: "1h", help: "how long a step may wait (a synced backup, a Velero restore); a plain number is seconds" },
  continue: { type: "string", value: "STEP", help: "the [you] step just done: go on after it" },
  identity: identityFlag,
  "passphrase-file": passphraseFileFlag,
} as const satisfies Flags;

const forTheRun = <F extends Flags>(flags: F): F =>
  Object.fromEntries(Object.entries(flags).map(([name, f]) => [name, { ...f, help: `(restore run) ${f.help}` }])) as F;

function mode(value: string | undefined): { mode?: "same-cluster" | "new-cluster" } {
  if (value === undefined) return {};
  if (value !== "same-cluster" && value !== "new-cluster") throw new UsageError("--mode must be same-cluster or new-cluster");
  return { mode: value };
}

export const restorePlan = command({
  path: ["restore", "plan"],
  summary: "how to recover from a backup's pair, as numbered steps with their commands",
  flags: { ...common, output: outputFlag(REPORT_FORMATS, "text"), json: { type: "boolean", help: "the same as -o json" }, ...etcdMemberFlags, ...forTheRun(runFlags) },
  details:
    "The same-cluster path (etcd replaced from the pair's snapshot, then Velero) is chosen only when the cluster answers as the pair's, " +
    "or the pair's recorded apiserver refuses or times out. A kubeconfig problem (missing file, wrong context, TLS or credentials) is " +
    "never taken for a lost control plane: the plan says what is wrong and exits 1.",
  async run({ values }, io) {
    if (!values.backup) throw new UsageError("restore plan needs --backup NAME");
    const { etcdTargetFromFlags } = await import("../load-restore-plan.js");
    const output = values.json ? "json" : parseOutput(values.output, REPORT_FORMATS);
    parseDuration("--timeout", values.timeout, { bareSeconds: true }); // checked as the run would: the same command line must work for both
    return (await import("../restore-plan-command.js")).restorePlanCommand(
      { backup: values.backup, store: values.store, veleroNamespace: values["velero-namespace"], output, etcd: etcdTargetFromFlags(values), env: io.env, ...clusterOptions(values), ...mode(values.mode), ...ageKeyOptions(values) },
      io,
    );
  },
});

export const restoreRun = command({
  path: ["restore", "run"],
  summary: "carry out that plan: the [twinsnap] steps itself, stopping at each [you] step with what to do",
  flags: { ...common, ...runFlags, ...etcdMemberFlags },
  details:
    "At a [you] step it stops with exit code 3, printing what to do and the --continue command. State is kept in the store " +
    "(restores/<backup uid>.json): a rerun resumes at the first unfinished step. One run per backup at a time (a lock in the store). " +
    "The etcd member flags are needed on the same-cluster path, on a control-plane node.",
  async run({ values }, io) {
    if (!values.backup) throw new UsageError("restore run needs --backup NAME");
    const { etcdTargetFromFlags } = await import("../load-restore-plan.js");
    return (await import("../restore-run-command.js")).restoreRunCommand(
      {
        backup: values.backup,
        store: values.store,
        veleroNamespace: values["velero-namespace"],
        dryRun: values["dry-run"] ?? false,
        timeoutMs: parseDuration("--timeout", values.timeout, { bareSeconds: true }),
        confirmSameCluster: values["confirm-same-cluster"] ?? false,
        etcd: etcdTargetFromFlags(values),
        env: io.env,
        ...(values.continue ? { continueStep: values.continue } : {}),
        ...ageKeyOptions(values),
        ...clusterOptions(values),
        ...mode(values.mode),
      },
      io,
    );
  },
});
