// `twinsnap pairs list | show | verify`: what the store holds, and whether each snapshot still reads back.
import yaml from "js-yaml";
import { loadAgeKeys } from "./age-keys.js";
import type { AgeIdentity } from "../etcd/snapshot-encryption.js";
import type { PairRecord } from "../pairs/pair-record.js";
import { findPairRecord, listPairRecords } from "../pairs/pair-store.js";
import { verifyPairSnapshot } from "../pairs/verify-pair-snapshot.js";
import { loadClusterConnection } from "../kube/kubeconfig.js";
import { rawClient } from "../kube/raw-client.js";
import type { ObjectStore } from "../store/object-store.js";
import { openCliStore, type CliStoreOptions } from "./cli-store.js";
import { EXIT, NotFoundError } from "./usage-error.js";
import { veleroPath } from "../velero/velero-api.js";
import { formatReport, type ReportFormat } from "./report.js";

type Io = { out: (s: string) => void; err: (s: string) => void };
export type OutputFormat = "table" | "json" | "yaml";

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n")}\n`;
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? "-" : `${(bytes / 2 ** 20).toFixed(1)}Mi`;
}

/** How to reach the store: --store, and for bsl: the cluster (--kubeconfig, --velero-namespace). */
type StoreFlags = Omit<CliStoreOptions, "client">;

/** Runs `use` on the opened store and closes it after. */
async function withStore<T>(opts: StoreFlags, use: (store: ObjectStore) => Promise<T>): Promise<T> {
  const store = await openCliStore(opts);
  try {
    return await use(store);
  } finally {
    store.close?.();
  }
}

export async function pairsListCommand(opts: StoreFlags & { output: OutputFormat }, io: Io): Promise<number> {
  const { records, damaged } = await withStore(opts, listPairRecords);
  for (const d of damaged) io.err(`damaged record ${d.key}: ${d.error}\n`);
  if (opts.output === "json") io.out(`${JSON.stringify(records, null, 2)}\n`);
  else if (opts.output === "yaml") io.out(yaml.dump(records, { noRefs: true, lineWidth: -1 }));
  else {
    const rows = [["BACKUP", "STATE", "VELERO PHASE", "ETCD REVISION", "SNAPSHOT", "STARTED", "SCHEDULE"]];
    for (const r of records) {
      rows.push([r.backup.name, r.state, r.backup.phase || "-", r.snapshot?.revision ?? (r.etcd ? "unavailable" : "-"), `${mib(r.snapshot?.storedBytes)}${r.sharedSnapshot ? ` shared with ${r.sharedSnapshot.takenFor.name}` : ""}`, r.backup.startTimestamp ?? "-", r.backup.schedule ?? "-"]);
    }
    io.out(table(rows));
  }
  return damaged.length > 0 ? 1 : 0;
}

export async function pairsShowCommand(opts: StoreFlags & { backup: string; output: OutputFormat }, io: Io): Promise<number> {
  const record = await withStore(opts, (store) => findPairRecord(store, opts.backup));
  if (!record) throw new NotFoundError(`no pair record for backup "${opts.backup}" in ${opts.store}`);
  io.out(opts.output === "json" ? `${JSON.stringify(record, null, 2)}\n` : yaml.dump(record, { noRefs: true, lineWidth: -1 }));
  return 0;
}

export interface VerifyOptions {
  store: string;
  backups: string[];
  etcdutl?: string;
  /** With identities or a passphrase, an encrypted snapshot is decrypted and checked inside too (else as stored). */
  /** --identity: age identity files, or secret:NAMESPACE/NAME[/KEY]; --passphrase-file: files or secret:NAMESPACE/NAME/KEY. */
  identities?: string[];
  passphraseFiles?: string[];
  /** With a cluster: also report pairs whose Velero backup is missing or failed. */
  kubeconfig?: string;
  context?: string;
  veleroNamespace: string;
  env: Readonly<Record<string, string | undefined>>;
  /** text: a line per pair; json or yaml: VerifyReport. */
  output?: ReportFormat;
}

/** What `pairs verify -o json` prints. */
export interface VerifyReport {
  checked: number;
  problems: number;
  pairs: { backup: string; uid: string; state: string; revision?: string; ok: boolean; problems: string[] }[];
  damaged: { key: string; error: string }[];
  /** Backups named on the command line that have no pair record. */
  missing: string[];
}

export async function pairsVerifyCommand(opts: VerifyOptions, io: Io): Promise<number> {
  return withStore(opts, (store) => verifyPairs(store, opts, io));
}

async function verifyPairs(store: ObjectStore, opts: VerifyOptions, io: Io): Promise<number> {
  const { records, damaged } = await listPairRecords(store);
  const chosen = opts.backups.length > 0 ? records.filter((r) => opts.backups.includes(r.backup.name) || opts.backups.includes(r.backup.uid)) : records;
  const missing = opts.backups.filter((n) => !chosen.some((r) => r.backup.name === n || r.backup.uid === n));
  for (const name of missing) io.err(`no pair record for ${name}\n`);
  const live = opts.kubeconfig ? await liveBackups(opts) : undefined;
  const identities = await loadAgeKeys(opts);
  let problems = damaged.length + missing.length;
  const json = opts.output === "json" || opts.output === "yaml";
  const report: VerifyReport = { checked: chosen.length, problems: 0, pairs: [], damaged: damaged.map((d) => ({ key: d.key, error: d.error })), missing };
  if (!json) for (const d of damaged) io.out(`DAMAGED   ${d.key}: ${d.error}\n`);
  for (const r of chosen) {
    const issues = await verifyOne(r, store, opts.etcdutl, live, identities);
    problems += issues.length;
    report.pairs.push({ backup: r.backup.name, uid: r.backup.uid, state: r.state, ...(r.snapshot ? { revision: r.snapshot.revision } : {}), ok: issues.length === 0, problems: issues });
    if (!json) io.out(`${issues.length === 0 ? "OK      " : "PROBLEM "}  ${r.backup.name} (${r.state}${r.snapshot ? `, revision ${r.snapshot.revision}` : ""})${issues.length ? `: ${issues.join("; ")}` : ""}\n`);
  }
  report.problems = problems;
  if (json) io.out(formatReport(opts.output!, report, () => ""));
  io.err(`${chosen.length} pair(s) checked, ${problems} problem(s)\n`);
  // A named backup without a record is "not found", as in every command; other problems are failures.
  if (missing.length > 0) return EXIT.notFound;
  return problems > 0 ? EXIT.failed : EXIT.ok;
}

async function verifyOne(r: PairRecord, store: ObjectStore, etcdutl: string | undefined, live: Map<string, string> | undefined, identities: readonly AgeIdentity[]): Promise<string[]> {
  const issues: string[] = [];
  if (r.state === "Failed") issues.push(`no snapshot: ${r.reason ?? "unknown reason"}`);
  if (r.state === "BackupFailed") issues.push(`Velero's backup failed (${r.backup.phase})`);
  if (r.snapshot) {
    try {
      const check = await verifyPairSnapshot(store, r.snapshot, { etcdutl, identities });
      if (check.checked === "stored-only") issues.push("age-encrypted: only the stored object was checked; pass --identity FILE to check the snapshot inside");
    } catch (err) {
      issues.push((err as Error).message);
    }
  }
  if (live) {
    const phase = live.get(r.backup.name);
    if (phase === undefined) issues.push("its Velero backup no longer exists in the cluster");
    else if (phase === "Failed" || phase === "FailedValidation") issues.push(`its Velero backup is ${phase}`);
  }
  return issues;
}

async function liveBackups(opts: VerifyOptions): Promise<Map<string, string>> {
  const client = rawClient(await loadClusterConnection({ env: opts.env, ...(opts.kubeconfig ? { kubeconfigPath: opts.kubeconfig } : {}), ...(opts.context ? { context: opts.context } : {}) }));
  try {
    const list = await client.get<{ items: { metadata: { name: string }; status?: { phase?: string } }[] }>(veleroPath(opts.veleroNamespace, "backups"));
    return new Map((list?.items ?? []).map((b) => [b.metadata.name, b.status?.phase ?? ""]));
  } finally {
    client.close();
  }
}
