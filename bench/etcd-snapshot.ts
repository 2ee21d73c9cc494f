// Benchmark: an etcd snapshot of a large database, `etcdctl snapshot save` and twinsnap's `saveSnapshot` (through
// `twinsnap etcd snapshot`: sha256, zstd and the in-pass verification into the store) side by side in one run,
// each as its own process so that peak RSS is per run; also twinsnap as it was before zstd (`--compression gzip
// --read-back`: gzip and a second full pass reading the object back), to show what the change bought.
//   TWINSNAP_BENCH_ETCD_MB=64             database size to fill (default 512)
//   TWINSNAP_BENCH_ETCD_CACHE=/tmp/dir    keep the filled data directory there and reuse it on the next run
//                                          (default: filled in a temporary directory and removed afterwards)
//   TWINSNAP_BENCH_ETCD_ROUNDS=2          runs of each side, alternating (default 2)
//   TWINSNAP_BENCH_S3=1                   also into an S3 store on moto (scripts/peers/s3-server.sh), or
//   TWINSNAP_BENCH_STORE_URL=s3://...     also into this store (any URL `--store` accepts), with the environment
import { execFile, spawn } from "node:child_process";
import { generateIdentity, identityToRecipient } from "age-encryption";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Etcd3 } from "etcd3";
import { startEtcdOn } from "../test/support/control-plane.js";
import { PLUGIN_FORMS, REPO_ROOT } from "../test/support/fixtures.js";
import { peer } from "../test/support/peers.js";

const run = promisify(execFile);
const MiB = 2 ** 20;

export interface EtcdSnapshotBenchOptions {
  sizeMiB: number;
  /** A directory to keep the filled etcd data in between runs; a temporary one (removed) when absent. */
  cacheDir?: string;
  rounds: number;
  /** Extra stores for the twinsnap side, by URL, with the environment their process needs (e.g. S3 credentials). */
  extraStores: { name: string; url: string; env: Record<string, string> }[];
}

export function etcdSnapshotBenchOptions(env: Readonly<Record<string, string | undefined>>): EtcdSnapshotBenchOptions {
  const sizeMiB = Number(env.TWINSNAP_BENCH_ETCD_MB ?? 512);
  const rounds = Number(env.TWINSNAP_BENCH_ETCD_ROUNDS ?? 2);
  if (!Number.isInteger(sizeMiB) || sizeMiB < 1 || sizeMiB > 1536) throw new Error(`TWINSNAP_BENCH_ETCD_MB must be 1..1536 (MiB), not ${env.TWINSNAP_BENCH_ETCD_MB}`);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`TWINSNAP_BENCH_ETCD_ROUNDS must be a positive integer`);
  const extraStores: EtcdSnapshotBenchOptions["extraStores"] = [];
  if (env.TWINSNAP_BENCH_STORE_URL) extraStores.push({ name: "store-url", url: env.TWINSNAP_BENCH_STORE_URL, env: {} });
  return { sizeMiB, rounds, extraStores, ...(env.TWINSNAP_BENCH_ETCD_CACHE ? { cacheDir: env.TWINSNAP_BENCH_ETCD_CACHE } : {}) };
}

/**
 * Kubernetes-like values: about half random bytes (Secrets, certificates, encrypted data: incompressible) and half
 * repetitive JSON manifests (compressible), 1-16 KiB each.
 */
function value(i: number): Buffer {
  const size = 1024 + ((i * 7919) % (15 * 1024));
  if (i % 2 === 0) return randomBytes(size);
  const manifest = JSON.stringify({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: `cm-${i}`, namespace: `ns-${i % 97}`, uid: createHash("md5").update(String(i)).digest("hex"), labels: { app: `app-${i % 13}`, tier: "web" } },
    data: {},
  });
  let text = manifest;
  while (text.length < size) text += ` "line-${text.length}": "value of a config key that repeats like real configuration does ${i % 101}",`;
  return Buffer.from(text.slice(0, size));
}

/** Fills etcd to at least sizeMiB of backend (Status.dbSize) with unique keys, 100 puts per transaction. */
async function fill(endpoint: string, sizeMiB: number): Promise<{ keys: number; dbSizeBytes: number; ms: number }> {
  const client = new Etcd3({ hosts: endpoint });
  const started = Date.now();
  let keys = 0;
  try {
    const dbSize = async () => Number((await client.maintenance.status()).dbSize);
    const batch = async () => {
      const success = Array.from({ length: 100 }, () => {
        const i = keys++;
        return { request_put: { key: Buffer.from(`/registry/bench/ns-${i % 97}/obj-${String(i).padStart(8, "0")}`), value: value(i) } };
      });
      await client.kv.txn({ compare: [], success, failure: [] });
    };
    // 4 transactions in flight (etcd batches their commits), about 3 MiB between two looks at the size.
    while ((await dbSize()) < sizeMiB * MiB) await Promise.all([batch(), batch(), batch(), batch()]);
    return { keys, dbSizeBytes: await dbSize(), ms: Date.now() - started };
  } finally {
    client.close();
  }
}

interface Measured {
  wallMs: number;
  peakRssMiB: number;
  stdout: string;
}

/** Runs a command as its own process; peak RSS from /usr/bin/time -v, else by polling /proc/<pid>/status VmHWM. */
async function measured(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Measured> {
  const useTime = existsSync("/usr/bin/time");
  const [bin, argv] = useTime ? ["/usr/bin/time", ["-v", cmd, ...args]] : [cmd, args];
  const started = process.hrtime.bigint();
  const child = spawn(bin, argv, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  let hwmKiB = 0;
  const poll = useTime
    ? undefined
    : setInterval(() => {
        try {
          const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
          if (m) hwmKiB = Math.max(hwmKiB, Number(m[1]));
        } catch {
          // exited between polls
        }
      }, 20);
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (poll) clearInterval(poll);
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${code}: ${stderr.slice(-2000)}`);
  if (useTime) hwmKiB = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1] ?? 0);
  return { wallMs: Math.round(wallMs), peakRssMiB: Math.round((hwmKiB / 1024) * 10) / 10, stdout };
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const round2 = (n: number) => Math.round(n * 100) / 100;
// The best of the rounds: on a shared machine, the slower runs measure the neighbours.
const best = (xs: number[]) => Math.min(...xs);

export async function benchEtcdSnapshot(opts: EtcdSnapshotBenchOptions) {
  const work = mkdtempSync(join(tmpdir(), "twinsnap-bench-etcd-"));
  const dataParent = opts.cacheDir ?? work;
  mkdirSync(dataParent, { recursive: true });
  const dataDir = join(dataParent, `etcd-${opts.sizeMiB}mib`);
  const filledMarker = `${dataDir}.filled.json`;
  const loadBefore = round2(loadavg()[0]!);
  const etcd = await startEtcdOn(work, dataDir, ["--quota-backend-bytes", String(4 * 1024 * MiB)]);
  try {
    let filled: { keys: number; dbSizeBytes: number; ms: number; reused: boolean };
    if (existsSync(filledMarker)) filled = { ...(JSON.parse(readFileSync(filledMarker, "utf8")) as { keys: number; dbSizeBytes: number; ms: number }), reused: true };
    else {
      process.stderr.write(`  filling etcd to ${opts.sizeMiB} MiB...\n`);
      const f = await fill(etcd.endpoint, opts.sizeMiB);
      writeFileSync(filledMarker, JSON.stringify(f));
      filled = { ...f, reused: false };
    }
    // The single executable, as users install it: its V8 flags (small semi-spaces) and code cache are part of
    // what they run; the node script from a checkout is about 1 s slower here without them.
    const twinsnap = PLUGIN_FORMS.executable;
    const sides: { name: string; run: () => Promise<{ m: Measured; snapshotBytes: number; storedBytes?: number; streamMs?: number }> }[] = [
      {
        name: "etcdctl",
        run: async () => {
          const file = join(work, "etcdctl.db");
          const m = await measured(peer("ETCDCTL_BIN"), ["--endpoints", etcd.endpoint, "snapshot", "save", file]);
          const result = { m, snapshotBytes: statSync(file).size };
          rmSync(file, { force: true });
          return result;
        },
      },
      ...[
        { name: "file", url: `file://${join(work, "store")}`, env: {} as Record<string, string>, flags: [] as string[] },
        { name: "file-gzip-read-back", url: `file://${join(work, "store-gzip")}`, env: {} as Record<string, string>, flags: ["--compression", "gzip", "--read-back"] },
        // The same file store with the snapshot age-encrypted after compression: the cost of encryption at rest.
        { name: "file-age", url: `file://${join(work, "store-age")}`, env: {} as Record<string, string>, flags: ["--encrypt-to", await identityToRecipient(await generateIdentity())] },
        ...opts.extraStores.map((s) => ({ ...s, flags: [] as string[] })),
      ].map((store: { name: string; url: string; env: Record<string, string>; flags: string[] }) => ({
        name: `twinsnap-${store.name}`,
        run: async () => {
          const m = await measured(twinsnap, ["etcd", "snapshot", "--endpoints", etcd.endpoint, "--store", store.url, "--name", "bench", ...store.flags], store.env);
          const record = JSON.parse(m.stdout) as { snapshotBytes: number; storedBytes: number; startedAt: string; finishedAt: string };
          if (store.url.startsWith("file://")) rmSync(store.url.slice("file://".length), { recursive: true, force: true });
          return { m, snapshotBytes: record.snapshotBytes, storedBytes: record.storedBytes, streamMs: Date.parse(record.finishedAt) - Date.parse(record.startedAt) };
        },
      })),
    ];
    // A first, discarded etcdctl run warms the page cache for everyone.
    await sides[0]!.run();
    const runs = new Map<string, Awaited<ReturnType<(typeof sides)[number]["run"]>>[]>(sides.map((s) => [s.name, []]));
    // A store that cannot be used (an s3:// URL before the S3 store exists, moto refusing) is reported as such;
    // the other sides still run. The file store and etcdctl sides must work.
    const failed = new Map<string, string>();
    const loadPerRound: number[][] = [];
    for (let r = 0; r < opts.rounds; r++) {
      loadPerRound.push(loadavg().map(round2));
      // Alternating order: a change of load on the machine falls on every side alike.
      for (const side of r % 2 === 0 ? sides : [...sides].reverse()) {
        if (failed.has(side.name)) continue;
        process.stderr.write(`  round ${r + 1}: ${side.name}...\n`);
        try {
          runs.get(side.name)!.push(await side.run());
        } catch (err) {
          if (side.name === "etcdctl" || side.name === "twinsnap-file") throw err;
          failed.set(side.name, (err as Error).message.slice(0, 500));
        }
      }
    }
    const working = sides.filter((s) => !failed.has(s.name));
    const summary = (name: string) => {
      const rs = runs.get(name)!;
      const wallMs = best(rs.map((x) => x.m.wallMs));
      const bytes = rs[0]!.snapshotBytes;
      return {
        wallMs,
        throughputMiBs: round1(bytes / MiB / (wallMs / 1000)),
        peakRssMiB: Math.max(...rs.map((x) => x.m.peakRssMiB)),
        snapshotBytes: bytes,
        ...(rs[0]!.storedBytes !== undefined ? { storedBytes: rs[0]!.storedBytes, compressionRatio: round2(bytes / rs[0]!.storedBytes) } : {}),
        ...(rs[0]!.streamMs !== undefined ? { streamAndStoreMs: best(rs.map((x) => x.streamMs!)), note: "wallMs includes the verification: in the same pass by default, a full read-back with --read-back" } : {}),
        runs: rs.map((x) => ({ wallMs: x.m.wallMs, peakRssMiB: x.m.peakRssMiB })),
      };
    };
    const etcdctl = summary("etcdctl");
    const results = Object.fromEntries(working.map((s) => [s.name, summary(s.name)]));
    // Not byte-identical (bbolt writes each snapshot's own transaction id into its meta pages), but the same size.
    const sameSize = [...runs.values()].every((rs) => rs.every((x) => x.snapshotBytes === runs.get("etcdctl")![0]!.snapshotBytes));
    return {
      name: "etcd-snapshot",
      database: { sizeMiB: opts.sizeMiB, dbSizeBytes: filled.dbSizeBytes, keys: filled.keys, fillMs: filled.ms, reusedFromCache: filled.reused, values: "half random bytes, half repetitive JSON; 1-16 KiB" },
      twinsnap: "single executable (dist/executable/twinsnap)",
      rounds: opts.rounds,
      summary: "wallMs and throughput: the best round; peakRssMiB: the highest round",
      loadAverage1m: { before: loadBefore, after: round2(loadavg()[0]!) },
      loadAverageAtEachRound: loadPerRound,
      sameSnapshotSize: sameSize,
      encryptedSide: "twinsnap-file-age: zstd then age (X25519) into the file store, verified in the pass like the plain side",
      ...results,
      ...Object.fromEntries([...failed].map(([name, error]) => [name, { error }])),
      ratios: Object.fromEntries(
        working
          .filter((s) => s.name !== "etcdctl")
          .map((s) => [`${s.name}/etcdctl`, { wallTime: round2(results[s.name]!.wallMs / etcdctl.wallMs), peakRss: round2(results[s.name]!.peakRssMiB / etcdctl.peakRssMiB) }]),
      ),
    };
  } finally {
    await etcd.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** TWINSNAP_BENCH_S3=1: moto on loopback (scripts/peers/s3-server.sh) as one more store; returns how to stop it. */
export async function withS3Store(opts: EtcdSnapshotBenchOptions, env: Readonly<Record<string, string | undefined>>): Promise<() => Promise<void>> {
  if (env.TWINSNAP_BENCH_S3 !== "1") return async () => undefined;
  const dir = mkdtempSync(join(tmpdir(), "twinsnap-bench-s3-"));
  const script = join(REPO_ROOT, "scripts", "peers", "s3-server.sh");
  await run(script, ["start", dir, "--bucket", "twinsnap-bench"]);
  const s3env = Object.fromEntries(
    readFileSync(join(dir, "s3.env"), "utf8")
      .split("\n")
      .map((l) => /^(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(l.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, m[2]!.replace(/^["']|["']$/g, "")]),
  );
  // The S3 store's URL form is the S3 store's (src/store/open-store.ts); credentials come from the shared file.
  const url = env.TWINSNAP_BENCH_S3_URL ?? `s3://twinsnap-bench/etcd-bench?endpoint=${encodeURIComponent(s3env.S3_URL ?? "")}&region=us-east-1&forcePathStyle=true`;
  opts.extraStores.push({ name: "s3", url, env: { AWS_SHARED_CREDENTIALS_FILE: s3env.AWS_SHARED_CREDENTIALS_FILE ?? "", AWS_REGION: "us-east-1" } });
  return async () => {
    await run(script, ["stop", dir]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
}
