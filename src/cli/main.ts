// The twinsnap executable. Started by Velero (VELERO_PLUGIN in the environment) it is a Velero plugin;
// started by a person it is the command line. This file only dispatches.
import { parseArgs } from "node:util";
import { NotStartedByVeleroError, VELERO_HANDSHAKE } from "../velero-plugin/handshake.js";
import { runPluginMode } from "./plugin-mode.js";
import { rulesCommand } from "./rules-command.js";
import { doctorCommand } from "./doctor-command.js";
import { stripCommand } from "./strip-command.js";
import { exportFromBackup, exportFromCluster } from "./export-command.js";
import { applyCommand } from "./apply-command.js";
import { etcdSnapshotCommand } from "./etcd-command.js";
import { etcdRestoreCommand } from "./etcd-restore-command.js";
import { coordinatorCommand } from "./coordinator-command.js";
import { ETCD_MEMBER_OPTIONS, etcdTargetFromFlags, restorePlanCommand } from "./restore-plan-command.js";
import { parseDuration, parseEndpoints, parsePositiveInteger } from "./parse-flags.js";
import { restoreRunCommand } from "./restore-run-command.js";
import { pairsListCommand, pairsShowCommand, pairsVerifyCommand, type OutputFormat } from "./pairs-command.js";
import { DEFAULT_STORE_URL } from "../store/open-store.js";
import { snapshotGetCommand } from "./snapshot-get-command.js";
import { pairsDiffCommand } from "./pairs-diff-command.js";
import { EXIT, NotFoundError, UsageError } from "./usage-error.js";
import { VERSION } from "../version.js";
import { formatVersionReport, versionReport } from "./version-command.js";
import { isSea } from "node:sea";
import { DEFAULT_SNAPSHOT_COMPRESSION, SNAPSHOT_COMPRESSIONS } from "../etcd/compression.js";

const USAGE = `twinsnap ${VERSION}: Kubernetes disaster recovery with Velero and etcd snapshots

Usage:
  twinsnap strip [--stage export|backup|restore] [--rules FILE] [-v] [FILE...]
                       clean manifests (YAML/JSON, "-" or none for stdin) with twinsnap's rules
  twinsnap export --out DIR [--from-backup BACKUP.tar.gz | --kubeconfig FILE] [--rules FILE] [--force]
                 [--include-namespaces a,b] [--exclude-namespaces a,b]
                 [--include-resources r,s] [--exclude-resources r,s] [--include-generated]
                       clean manifests, one file per object, from a live cluster or (offline) a Velero backup
  twinsnap apply [--dry-run] [--concurrency N] [--kubeconfig FILE] [--rules FILE] DIR|FILE...
                       apply manifests in dependency order (server-side apply), CRDs before their resources
  twinsnap etcd snapshot --endpoints URL[,URL] [--cacert F --cert F --key F] [--store URL] [--name NAME]
                 [--etcdutl PATH] [--compression zstd|gzip|none] [--read-back]
                 [--encrypt-to age1... | --encrypt-to-file RECIPIENTS]...
                       stream a verified etcd snapshot into a store (default ${DEFAULT_STORE_URL})
  twinsnap etcd restore (--backup NAME | --snapshot NAME) --data-dir DIR --name MEMBER [--store URL]
                 [--initial-cluster a=URL,b=URL] [--initial-advertise-peer-urls URL] [--etcdutl PATH] [--identity FILE]...
                 [--bump-revision 1000000000] [--force]
                       restore a member from the verified snapshot paired with a backup
  twinsnap coordinator --etcd-endpoints URL[,URL] [--etcd-cacert F --etcd-cert F --etcd-key F]
                 [--store URL] [--velero-namespace velero] [--kubeconfig FILE] [--context NAME] [--concurrency N]
                 [--share-window 0] [--metrics-address 127.0.0.1:8080] [--no-leader-elect]
                 [--encrypt-to age1... | --encrypt-to-file RECIPIENTS]...
                       pair every Velero backup with a verified etcd snapshot (runs until stopped)
                       --retention-grace 1h: how long a pair outlives its deleted backup
  twinsnap pairs list [--store URL] [-o table|json|yaml]
  twinsnap pairs show BACKUP [--store URL] [-o yaml|json]
  twinsnap pairs verify [BACKUP...] [--store URL] [--etcdutl PATH] [--kubeconfig FILE] [--velero-namespace velero]
                 [--identity FILE]...
                       the backup/snapshot pairs in a store; verify re-reads every snapshot
  twinsnap pairs diff BACKUP [--store URL] [--from-backup BACKUP.tar.gz] [--backup-spec FILE] [--snapshot FILE]
                 [--encryption-config FILE] [-o table|json]
                       objects in the backup's etcd snapshot that the Velero backup does not hold, grouped by why
  twinsnap snapshot get (--backup NAME [--store URL] | --snapshot FILE) [RESOURCE] [[NAMESPACE/]NAME] [-n NAMESPACE]
                 [--encryption-config FILE] [-o yaml|json] [--raw]
                       objects out of an etcd snapshot, offline, as clean manifests for twinsnap apply
  twinsnap restore plan --backup NAME [--store URL] [--kubeconfig FILE] [--context NAME]
                 [--mode same-cluster|new-cluster] [--json] [etcd member flags, as for restore run]
                       how to recover from a backup's pair, as numbered steps with their commands. The same-cluster
                       path (etcd replaced) is chosen only when the cluster answers as the pair's, or the pair's
                       recorded apiserver refuses or times out; a kubeconfig problem stops the plan (exit code 1)
  twinsnap restore run --backup NAME [--store URL] [--kubeconfig FILE] [--context NAME]
                 [--mode same-cluster|new-cluster] [--confirm-same-cluster]
                 [--dry-run] [--timeout 1h] [--continue STEP]
                 [--name MEMBER --initial-advertise-peer-urls URL | --initial-cluster a=URL,b=URL]
                 [--data-dir /var/lib/etcd-twinsnap] [--etcdutl PATH] [--bump-revision 1000000000] [--force]
                 [--identity FILE]...
                       carry out that plan: the [twinsnap] steps itself; at each [you] step it stops with exit
                       code 3, printing what to do and the --continue command. State is kept in the store
                       (restores/<backup uid>.json): a rerun resumes at the first unfinished step. A new
                       same-cluster run needs --confirm-same-cluster; one run per backup at a time (a lock in
                       the store). The etcd member flags are needed on the same-cluster path (a control-plane node).
  twinsnap doctor [--kubeconfig FILE] [--velero-namespace velero] [--timeout 60]
                       check the running Velero: twinsnap's actions loaded, restore-order on in the latest
                       backup and restore (exit code 1 with what to do when not)
  twinsnap rules [--rules FILE] [--json]
                       list the stripping rules in force and why each exists
  twinsnap version [--json]
                       twinsnap's version, the Node it runs on, the Velero plugin protocol it speaks

Durations are Go durations (30s, 2m, 1h30m). Exit codes, in every command: 0 done, 1 failed or problems found,
2 usage, 3 restore run stopped at a step that is yours, 4 not found (no pair record for the backup named).
--kubeconfig FILE and --context NAME choose the cluster as kubectl does (HTTPS_PROXY/NO_PROXY and proxy-url too).

--store URL: file:///path, s3://bucket/prefix[?region=R&endpoint=URL&forcePathStyle=true&profile=P], or bsl:NAME
(Velero's BackupStorageLocation NAME, read through --kubeconfig in --velero-namespace; written under
<prefix>/plugins/twinsnap/). S3 credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_SHARED_CREDENTIALS_FILE.

As a Velero plugin, twinsnap is started by the Velero server (see the README: "Install").
`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function runCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const out = (s: string) => void process.stdout.write(s);
  const err = (s: string) => void process.stderr.write(s);
  switch (command) {
    case "strip": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { stage: { type: "string", default: "export" }, rules: { type: "string" }, verbose: { type: "boolean", short: "v", default: false } },
      });
      return stripCommand(
        { files: positionals, stage: values.stage!, verbose: values.verbose!, ...(values.rules ? { rulesFile: values.rules } : {}) },
        { stdin: readStdin, out, err },
      );
    }
    case "export": {
      const { values } = parseArgs({
        args: rest,
        options: {
          "from-backup": { type: "string" },
          out: { type: "string" },
          rules: { type: "string" },
          force: { type: "boolean", default: false },
          "include-namespaces": { type: "string" },
          "exclude-namespaces": { type: "string" },
          "include-resources": { type: "string" },
          "exclude-resources": { type: "string" },
          kubeconfig: { type: "string" },
          context: { type: "string" },
          "include-generated": { type: "boolean", default: false },
        },
      });
      if (!values.out) throw new UsageError("export needs --out DIR");
      const list = (v: string | undefined) => (v ? v.split(",").map((s) => s.trim()).filter(Boolean) : undefined);
      const common = {
          out: values.out,
          force: values.force!,
          ...(values.rules ? { rulesFile: values.rules } : {}),
          ...(list(values["include-namespaces"]) ? { includeNamespaces: list(values["include-namespaces"]) } : {}),
          ...(list(values["exclude-namespaces"]) ? { excludeNamespaces: list(values["exclude-namespaces"]) } : {}),
          ...(list(values["include-resources"]) ? { includeResources: list(values["include-resources"]) } : {}),
          ...(list(values["exclude-resources"]) ? { excludeResources: list(values["exclude-resources"]) } : {}),
      };
      const progress = (line: string) => err(`${line}\n`);
      if (values["from-backup"]) await exportFromBackup({ ...common, fromBackup: values["from-backup"] }, progress);
      else
        await exportFromCluster(
          { ...common, includeGenerated: values["include-generated"]!, env: process.env, ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}) },
          progress,
        );
      return 0;
    }
    case "apply": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          "dry-run": { type: "boolean", default: false },
          concurrency: { type: "string", default: "8" },
          kubeconfig: { type: "string" },
          context: { type: "string" },
          rules: { type: "string" },
        },
      });
      if (positionals.length === 0) throw new UsageError("apply needs at least one directory or file");
      const concurrency = parsePositiveInteger("--concurrency", values.concurrency!);
      return applyCommand(
        {
          paths: positionals,
          dryRun: values["dry-run"]!,
          concurrency,
          env: process.env,
          ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
            ...(values.context ? { context: values.context } : {}),
          ...(values.rules ? { rulesFile: values.rules } : {}),
        },
        { out, err },
      );
    }
    case "etcd": {
      const [sub, ...etcdArgs] = rest;
      if (sub === "restore") {
        const { values } = parseArgs({
          args: etcdArgs,
          options: {
            store: { type: "string", default: DEFAULT_STORE_URL },
            backup: { type: "string" },
            snapshot: { type: "string" },
            name: { type: "string" },
            "initial-cluster": { type: "string" },
            "initial-advertise-peer-urls": { type: "string" },
            "data-dir": { type: "string" },
            etcdutl: { type: "string", default: "etcdutl" },
            "bump-revision": { type: "string", default: "1000000000" },
            force: { type: "boolean", default: false },
            kubeconfig: { type: "string" },
            context: { type: "string" },
            "velero-namespace": { type: "string", default: process.env.VELERO_NAMESPACE ?? "velero" },
            identity: { type: "string", multiple: true },
          },
        });
        if (!values.name || !values["data-dir"]) throw new UsageError("etcd restore needs --name MEMBER and --data-dir DIR");
        return etcdRestoreCommand(
          {
            store: values.store!,
            name: values.name,
            dataDir: values["data-dir"],
            etcdutl: values.etcdutl!,
            bumpRevision: parsePositiveInteger("--bump-revision", values["bump-revision"]!),
            force: values.force!,
            veleroNamespace: values["velero-namespace"]!,
            env: process.env,
            ...(values.identity ? { identityFiles: values.identity } : {}),
            ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
            ...(values.context ? { context: values.context } : {}),
            ...(values.backup ? { backup: values.backup } : {}),
            ...(values.snapshot ? { snapshot: values.snapshot } : {}),
            ...(values["initial-cluster"] ? { initialCluster: values["initial-cluster"] } : {}),
            ...(values["initial-advertise-peer-urls"] ? { peerUrl: values["initial-advertise-peer-urls"] } : {}),
          },
          { out, err },
        );
      }
      if (sub !== "snapshot") throw new UsageError('etcd needs a subcommand: "snapshot" or "restore"');
      const { values } = parseArgs({
        args: etcdArgs,
        options: {
          endpoints: { type: "string" },
          cacert: { type: "string" },
          cert: { type: "string" },
          key: { type: "string" },
          store: { type: "string", default: DEFAULT_STORE_URL },
          name: { type: "string" },
          etcdutl: { type: "string" },
          kubeconfig: { type: "string" },
          context: { type: "string" },
          "velero-namespace": { type: "string", default: process.env.VELERO_NAMESPACE ?? "velero" },
          "encrypt-to": { type: "string", multiple: true },
          "encrypt-to-file": { type: "string", multiple: true },
          compression: { type: "string", default: DEFAULT_SNAPSHOT_COMPRESSION },
          "read-back": { type: "boolean", default: false },
        },
      });
      if (!values.endpoints) throw new UsageError("etcd snapshot needs --endpoints (e.g. https://127.0.0.1:2379)");
      const compression = SNAPSHOT_COMPRESSIONS.find((c) => c === values.compression);
      if (!compression) throw new UsageError(`--compression must be one of ${SNAPSHOT_COMPRESSIONS.join(", ")} (got "${values.compression}")`);
      return etcdSnapshotCommand(
        {
          endpoints: parseEndpoints("--endpoints", values.endpoints),
          store: values.store!,
          name: values.name ?? `etcd-${new Date().toISOString().replace(/[:.]/g, "-")}`,
          veleroNamespace: values["velero-namespace"]!,
          env: process.env,
          compression,
          readBack: values["read-back"]!,
          ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
            ...(values.context ? { context: values.context } : {}),
          ...(values.cacert ? { caFile: values.cacert } : {}),
          ...(values.cert ? { certFile: values.cert } : {}),
          ...(values.key ? { keyFile: values.key } : {}),
          ...(values.etcdutl ? { etcdutl: values.etcdutl } : {}),
          ...(values["encrypt-to"] ? { encryptTo: values["encrypt-to"] } : {}),
          ...(values["encrypt-to-file"] ? { encryptToFiles: values["encrypt-to-file"] } : {}),
        },
        { out, err },
      );
    }
    case "coordinator": {
      const { values } = parseArgs({
        args: rest,
        options: {
          "etcd-endpoints": { type: "string" },
          "etcd-cacert": { type: "string" },
          "etcd-cert": { type: "string" },
          "etcd-key": { type: "string" },
          store: { type: "string", default: DEFAULT_STORE_URL },
          "velero-namespace": { type: "string", default: process.env.VELERO_NAMESPACE ?? "velero" },
          kubeconfig: { type: "string" },
          context: { type: "string" },
          concurrency: { type: "string", default: "2" },
          "share-window": { type: "string", default: "0" },
          "log-level": { type: "string" },
          "metrics-address": { type: "string", default: "127.0.0.1:8080" },
          "leader-elect": { type: "boolean", default: true },
          "no-leader-elect": { type: "boolean", default: false },
          "retention-grace": { type: "string" },
          "encrypt-to": { type: "string", multiple: true },
          "encrypt-to-file": { type: "string", multiple: true },
        },
      });
      if (!values["etcd-endpoints"]) throw new UsageError("coordinator needs --etcd-endpoints");
      return coordinatorCommand({
        veleroNamespace: values["velero-namespace"]!,
        store: values.store!,
        concurrency: parsePositiveInteger("--concurrency", values.concurrency!),
        shareWindowMs: parseDuration("--share-window", values["share-window"]!),
        metricsAddress: values["metrics-address"]!,
        leaderElect: values["leader-elect"]! && !values["no-leader-elect"],
        env: process.env,
        etcd: {
          endpoints: parseEndpoints("--etcd-endpoints", values["etcd-endpoints"]),
          ...(values["etcd-cacert"] ? { caFile: values["etcd-cacert"] } : {}),
          ...(values["etcd-cert"] ? { certFile: values["etcd-cert"] } : {}),
          ...(values["etcd-key"] ? { keyFile: values["etcd-key"] } : {}),
        },
        ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
        ...(values.context ? { context: values.context } : {}),
        ...(values["log-level"] ? { logLevel: values["log-level"] } : {}),
        ...(values["encrypt-to"] ? { encryptTo: values["encrypt-to"] } : {}),
        ...(values["encrypt-to-file"] ? { encryptToFiles: values["encrypt-to-file"] } : {}),
        ...(values["retention-grace"] !== undefined ? { retentionGraceMs: parseDuration("--retention-grace", values["retention-grace"]) } : {}),
      });
    }
    case "pairs": {
      const [sub, ...pairArgs] = rest;
      const { values, positionals } = parseArgs({
        args: pairArgs,
        allowPositionals: true,
        options: {
          store: { type: "string", default: DEFAULT_STORE_URL },
          output: { type: "string", short: "o" },
          "from-backup": { type: "string" },
          "backup-spec": { type: "string" },
          snapshot: { type: "string" },
          "encryption-config": { type: "string" },
          etcdutl: { type: "string" },
          kubeconfig: { type: "string" },
          context: { type: "string" },
          "velero-namespace": { type: "string", default: process.env.VELERO_NAMESPACE ?? "velero" },
          identity: { type: "string", multiple: true },
        },
      });
      const output = (values.output ?? (sub === "show" ? "yaml" : "table")) as OutputFormat;
      if (!["table", "json", "yaml"].includes(output)) throw new UsageError("-o must be table, json or yaml");
      const storeFlags = { store: values.store!, veleroNamespace: values["velero-namespace"]!, env: process.env, ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}), ...(values.context ? { context: values.context } : {}) };
      if (sub === "list") return pairsListCommand({ ...storeFlags, output }, { out, err });
      if (sub === "show") {
        if (positionals.length !== 1) throw new UsageError("pairs show needs one backup name or uid");
        return pairsShowCommand({ ...storeFlags, backup: positionals[0]!, output }, { out, err });
      }
      if (sub === "diff") {
        if (positionals.length !== 1) throw new UsageError("pairs diff needs one backup name");
        if (output === "yaml") throw new UsageError("pairs diff: -o must be table or json");
        return pairsDiffCommand(
          {
            ...storeFlags,
            backup: positionals[0]!,
            output,
            ...(values["from-backup"] ? { fromBackup: values["from-backup"] } : {}),
            ...(values["backup-spec"] ? { backupSpec: values["backup-spec"] } : {}),
            ...(values.snapshot ? { snapshotFile: values.snapshot } : {}),
            ...(values["encryption-config"] ? { encryptionConfig: values["encryption-config"] } : {}),
          },
          { out, err },
        );
      }
      if (sub === "verify") {
        return pairsVerifyCommand(
          {
            store: values.store!,
            backups: positionals,
            veleroNamespace: values["velero-namespace"]!,
            env: process.env,
            ...(values.etcdutl ? { etcdutl: values.etcdutl } : {}),
            ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
            ...(values.identity ? { identityFiles: values.identity } : {}),
            ...(values.context ? { context: values.context } : {}),
          },
          { out, err },
        );
      }
      throw new UsageError('pairs needs a subcommand: "list", "show", "verify" or "diff"');
    }
    case "snapshot": {
      const [sub, ...getArgs] = rest;
      if (sub !== "get") throw new UsageError('snapshot needs a subcommand: "get"');
      const { values, positionals } = parseArgs({
        args: getArgs,
        allowPositionals: true,
        options: {
          backup: { type: "string" },
          snapshot: { type: "string" },
          store: { type: "string", default: DEFAULT_STORE_URL },
          namespace: { type: "string", short: "n" },
          output: { type: "string", short: "o", default: "yaml" },
          raw: { type: "boolean", default: false },
          "encryption-config": { type: "string" },
          rules: { type: "string" },
          kubeconfig: { type: "string" },
          "velero-namespace": { type: "string", default: process.env.VELERO_NAMESPACE ?? "velero" },
        },
      });
      if (values.output !== "yaml" && values.output !== "json") throw new UsageError("-o must be yaml or json");
      if (positionals.length > 2) throw new UsageError("snapshot get takes RESOURCE and [NAMESPACE/]NAME");
      return snapshotGetCommand(
        {
          store: values.store!,
          veleroNamespace: values["velero-namespace"]!,
          env: process.env,
          output: values.output,
          raw: values.raw!,
          ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
          ...(values.backup ? { backup: values.backup } : {}),
          ...(values.snapshot ? { snapshotFile: values.snapshot } : {}),
          ...(positionals[0] ? { resource: positionals[0] } : {}),
          ...(positionals[1] ? { target: positionals[1] } : {}),
          ...(values.namespace ? { namespace: values.namespace } : {}),
          ...(values["encryption-config"] ? { encryptionConfig: values["encryption-config"] } : {}),
          ...(values.rules ? { rulesFile: values.rules } : {}),
        },
        { out, err },
      );
    }
    case "restore": {
      const [sub, ...restoreArgs] = rest;
      if (sub !== "plan" && sub !== "run") throw new UsageError('restore needs a subcommand: "plan" or "run"');
      const { values } = parseArgs({
        args: restoreArgs,
        options: {
          backup: { type: "string" },
          store: { type: "string", default: DEFAULT_STORE_URL },
          kubeconfig: { type: "string" },
          context: { type: "string" },
          mode: { type: "string" },
          "velero-namespace": { type: "string", default: process.env.VELERO_NAMESPACE ?? "velero" },
          json: { type: "boolean", default: false },
          "dry-run": { type: "boolean", default: false },
          timeout: { type: "string", default: "1h" },
          continue: { type: "string" },
          identity: { type: "string", multiple: true },
          "confirm-same-cluster": { type: "boolean", default: false },
          ...ETCD_MEMBER_OPTIONS,
        },
      });
      const etcd = etcdTargetFromFlags(values);
      if (!values.backup) throw new UsageError(`restore ${sub} needs --backup NAME`);
      if (values.mode && values.mode !== "same-cluster" && values.mode !== "new-cluster") throw new UsageError("--mode must be same-cluster or new-cluster");
      if (sub === "run") {
        return restoreRunCommand(
          {
            backup: values.backup,
            store: values.store!,
            veleroNamespace: values["velero-namespace"]!,
            dryRun: values["dry-run"]!,
            timeoutMs: parseDuration("--timeout", values.timeout!, { bareSeconds: true }),
            confirmSameCluster: values["confirm-same-cluster"]!,
            etcd,
            ...(values.continue ? { continueStep: values.continue } : {}),
            ...(values.identity ? { identityFiles: values.identity } : {}),
            env: process.env,
            ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
            ...(values.context ? { context: values.context } : {}),
            ...(values.mode ? { mode: values.mode as "same-cluster" | "new-cluster" } : {}),
          },
          { out, err },
        );
      }
      return restorePlanCommand(
        {
          backup: values.backup,
          store: values.store!,
          veleroNamespace: values["velero-namespace"]!,
          json: values.json!,
          etcd,
          env: process.env,
          ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
          ...(values.context ? { context: values.context } : {}),
          ...(values.mode ? { mode: values.mode as "same-cluster" | "new-cluster" } : {}),
        },
        { out, err },
      );
    }
    case "doctor": {
      const { values } = parseArgs({
        args: rest,
        options: { kubeconfig: { type: "string" }, "velero-namespace": { type: "string", default: "velero" }, timeout: { type: "string", default: "60" } },
      });
      const timeout = Number(values.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError("--timeout must be a positive number of seconds");
      return doctorCommand(
        { veleroNamespace: values["velero-namespace"]!, timeoutMs: timeout * 1000, env: process.env, ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}) },
        { out },
      );
    }
    case "rules": {
      const { values } = parseArgs({ args: rest, options: { rules: { type: "string" }, json: { type: "boolean", default: false } } });
      return rulesCommand({ json: values.json!, ...(values.rules ? { rulesFile: values.rules } : {}) }, out);
    }
    case "version":
    case "--version": {
      const { values } = parseArgs({ args: rest, options: { json: { type: "boolean", default: false } } });
      const report = versionReport({ node: process.version, singleExecutable: isSea() });
      out(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatVersionReport(report));
      return 0;
    }
    case "help":
    case "--help":
    case "-h":
      out(USAGE);
      return 0;
    default:
      if (command === undefined || command.startsWith("-")) {
        // Most likely started by hand where Velero would start it: say what this binary is.
        err(`${new NotStartedByVeleroError().message}\n\n${USAGE}`);
        return 1;
      }
      throw new UsageError(`unknown command "${command}"`);
  }
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (env[VELERO_HANDSHAKE.magicCookieKey] !== undefined) return runPluginMode(env, argv);
  // `twinsnap rules | head`: a closed pipe ends the output, it is not an error.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
  try {
    return await runCli(argv);
  } catch (e) {
    if (e instanceof UsageError || (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS"))) {
      process.stderr.write(`twinsnap: ${e.message}\nRun "twinsnap --help" for usage.\n`);
      return EXIT.usage;
    }
    if (e instanceof NotFoundError) {
      process.stderr.write(`twinsnap: ${e.message}\n`);
      return EXIT.notFound;
    }
    process.stderr.write(`twinsnap: ${(e as Error).message}\n`);
    return EXIT.failed;
  }
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`twinsnap: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
