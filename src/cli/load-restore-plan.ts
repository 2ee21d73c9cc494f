// The recovery plan for a backup, as `restore plan` prints it and `restore run` carries it out: the pair, the run
// already under way (if any), what the cluster answers, and the etcd member named by flags.
import { findPairRecord } from "../pairs/pair-store.js";
import type { PairRecord } from "../pairs/pair-record.js";
import { restorePlan, type EtcdTarget, type RestoreMode, type RestorePlan } from "../recovery/restore-plan.js";
import type { RestoreRunState } from "../recovery/restore-run-state.js";
import { readRunState } from "../recovery/restore-run-store.js";
import type { OpenedStore } from "../store/open-store.js";
import { openCliStore } from "./cli-store.js";
import { clusterFacts } from "./cluster-facts.js";
import { parseCluster, parsePositiveInteger } from "./parse-flags.js";
import { NotFoundError } from "./usage-error.js";

/** The flags naming this node's etcd member, as `twinsnap etcd restore` takes them (commands/restore.ts). */
interface EtcdMemberFlags {
  name?: string | undefined;
  "initial-cluster"?: string | undefined;
  "initial-advertise-peer-urls"?: string | undefined;
  "data-dir"?: string | undefined;
  etcdutl?: string | undefined;
  "bump-revision"?: string | undefined;
  force?: boolean | undefined;
}

export function etcdTargetFromFlags(values: EtcdMemberFlags): Partial<EtcdTarget> {
  const bump = values["bump-revision"] === undefined ? undefined : parsePositiveInteger("--bump-revision", values["bump-revision"]);
  const cluster = values["initial-cluster"]
    ? parseCluster(values["initial-cluster"])
    : values.name && values["initial-advertise-peer-urls"]
      ? [{ name: values.name, peerUrl: values["initial-advertise-peer-urls"] }]
      : undefined;
  return {
    ...(values.name ? { member: values.name } : {}),
    ...(cluster ? { cluster } : {}),
    ...(values["data-dir"] ? { dataDir: values["data-dir"] } : {}),
    ...(values.etcdutl ? { etcdutl: values.etcdutl } : {}),
    ...(bump !== undefined ? { bumpRevision: bump } : {}),
    ...(values.force !== undefined ? { force: values.force } : {}),
  };
}

export interface RestorePlanOptions {
  backup: string;
  store: string;
  kubeconfig?: string;
  context?: string;
  mode?: RestoreMode;
  veleroNamespace: string;
  /** This node's etcd member, if known: the plan's commands then carry the real values instead of placeholders. */
  etcd: Partial<EtcdTarget>;
  env: Readonly<Record<string, string | undefined>>;
  /** --identity / --passphrase-file: read by the run; the plan repeats them in its commands. */
  identities?: string[];
  passphraseFiles?: string[];
}

/**
 * The pair, the run already under way (if any) and the plan. A started run keeps its path and parameters: the
 * cluster is not asked again (its control plane may be down on purpose) and the saved etcd member is used.
 */
export async function loadRestorePlan(opts: RestorePlanOptions): Promise<{ store: OpenedStore; pair: PairRecord; saved?: RestoreRunState; plan: RestorePlan; planStore: string }> {
  const store = await openCliStore(opts);
  const pair = await findPairRecord(store, opts.backup);
  if (!pair) {
    store.close?.();
    throw new NotFoundError(`no pair record for backup "${opts.backup}" in ${opts.store}`);
  }
  // A bsl: store is read through the apiserver, which the same-cluster steps stop: they name its bucket instead.
  const planStore = opts.store.startsWith("bsl:") ? (store.openUrl ?? store.url) : opts.store;
  const saved = await readRunState(store, pair, opts.veleroNamespace);
  const plan = restorePlan({
    pair,
    cluster: saved ? {} : await clusterFacts({ env: opts.env, ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}), ...(opts.context ? { context: opts.context } : {}), ...(pair.apiserverEndpoints ? { recordedEndpoints: pair.apiserverEndpoints } : {}) }),
    store: planStore,
    veleroNamespace: saved?.params.veleroNamespace ?? opts.veleroNamespace,
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
    keyFlags: [...(opts.identities ?? []).flatMap((i) => ["--identity", i]), ...(opts.passphraseFiles ?? []).flatMap((p) => ["--passphrase-file", p])],
    ...(saved ? { resumeOf: { mode: saved.mode, startedAt: saved.startedAt } } : opts.mode ? { override: opts.mode } : {}),
    // --force may be added on a rerun (e.g. when a killed restore left its finished data directory behind).
    etcd: saved?.params.etcd ? { ...saved.params.etcd, ...(opts.etcd.force ? { force: true } : {}) } : opts.etcd,
  });
  return { store, pair, plan, planStore, ...(saved ? { saved } : {}) };
}
