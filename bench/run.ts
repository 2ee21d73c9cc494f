// `npm run bench`: runs the benchmarks and writes machine-readable results to bench/results/<name>.json.
// Numbers from these noisy machines are compared as ratios measured side by side in one run.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { PLUGIN_FORMS, REPO_ROOT } from "../test/support/fixtures.js";
import { peer } from "../test/support/peers.js";
import { benchPluginExecute } from "./plugin-execute.js";
import { benchRestoreOrder } from "./restore-order.js";
import { benchExportApply } from "./export-apply.js";
import { benchVeleroBackupRestore } from "./velero-backup-restore.js";
import { benchStorePut } from "./store-put.js";
import { benchEtcdSnapshot, etcdSnapshotBenchOptions, withS3Store } from "./etcd-snapshot.js";
import { benchSnapshotDecode } from "./snapshot-decode.js";

const benches: Record<string, () => Promise<object>> = {
  // Side by side in alternating rounds: the single executable Velero runs, the node script, and the Go reference
  // plugin on Velero's own framework (peer go-reference-plugin). Ratios: executable over Go.
  "plugin-execute": () =>
    benchPluginExecute(
      [
        { label: "executable", command: PLUGIN_FORMS.executable, plugin: "twinsnap.dev/strip-runtime-fields" },
        { label: "go-reference", command: peer("GO_REFERENCE_PLUGIN_BIN"), plugin: "reference.twinsnap.dev/strip" },
        { label: "script", command: PLUGIN_FORMS.script, plugin: "twinsnap.dev/strip-runtime-fields" },
      ],
      { subject: "executable", reference: "go-reference", rounds: Number(process.env.TWINSNAP_BENCH_ROUNDS ?? "3") },
    ),
  "restore-order": () => benchRestoreOrder(),
  // 100,000 objects (protobuf, aescbc-encrypted, JSON custom resources) decoded from a real etcd snapshot.
  "snapshot-decode": () => benchSnapshotDecode(),
  "export-apply": () => benchExportApply(),
  "velero-backup-restore": () => benchVeleroBackupRestore(),
  // Needs the S3 server peer (scripts/peers.sh s3-server).
  "store-put": () => benchStorePut(),
  // etcdctl and twinsnap (file store; S3 with TWINSNAP_BENCH_S3=1) on the same filled etcd, one process per run.
  "etcd-snapshot": async () => {
    const opts = etcdSnapshotBenchOptions(process.env);
    const stopS3 = await withS3Store(opts, process.env);
    try {
      return await benchEtcdSnapshot(opts);
    } finally {
      await stopS3();
    }
  },
};

const only = process.argv.slice(2);
const outDir = join(REPO_ROOT, "bench", "results");
mkdirSync(outDir, { recursive: true });
const machine = { node: process.version, loadAverageAtStart: loadavg(), cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "", memoryGiB: Math.round(totalmem() / 2 ** 30) };

for (const [name, run] of Object.entries(benches)) {
  if (only.length > 0 && !only.includes(name)) continue;
  process.stderr.write(`bench ${name}...\n`);
  const result = { ...(await run()), machine, at: new Date().toISOString() };
  const file = join(outDir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.stderr.write(`wrote ${file}\n`);
}
