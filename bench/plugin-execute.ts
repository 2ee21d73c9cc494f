// Benchmark: Execute round trips to a plugin process over its unix socket, as Velero makes them, for twinsnap
// and a Go reference plugin (test/peers/go-reference-plugin: a BackupItemAction v2 on Velero v1.18.1's own
// framework doing a comparable strip) side by side, through the same harness, in alternating rounds. Reports
// latency percentiles, calls/s at 1 and 16 in flight, peak RSS and start to handshake, and twinsnap/Go ratios
// from the medians of the rounds, with the load average around each round (this machine is shared).
// Each round also times Execute through Velero's own client code (test/peers/velero-plugin-client: Velero's
// pkg/plugin/clientmgmt and go-plugin, as the Velero server calls a plugin): the per-call cost a backup pays.
import { readFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { fixture } from "../test/support/fixtures.js";
import { jsonBytes, PluginHost } from "../test/support/go-plugin-host.js";
import { pluginDir, runVeleroClient } from "../test/support/velero-plugin-client.js";

export interface PluginUnderTest {
  label: string;
  command: string;
  /** The action name the plugin registers. */
  plugin: string;
}

interface Scenario { inFlight: number; calls: number; callsPerSecond: number; p50Ms: number; p99Ms: number; maxMs: number }
export interface RoundResult {
  startupMs: number[];
  scenarios: Scenario[];
  peakRssMiB: number;
  /** Through Velero's client, one call at a time: (time of N calls - time of 1) / (N - 1), process start excluded. */
  veleroClient: { calls: number; msPerCall: number };
  loadAverage: { before: number[]; after: number[] };
}

export interface ExecuteBenchResult {
  name: string;
  itemBytes: number;
  rounds: number;
  forms: Record<string, { command: string; plugin: string; rounds: RoundResult[]; median: { startupMs: number; callsPerSecond: Record<string, number>; p50Ms: Record<string, number>; peakRssMiB: number; veleroClientMsPerCall: number } }>;
  /** twinsnap (single executable) over the Go reference: > 1 means twinsnap is faster (throughput) or slower (time, RSS). */
  ratios?: Record<string, number>;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);
const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * Peak resident set of a process and the processes it started, from the kernel's high-water marks: the node
 * script hands over to the pinned Node as a child, which is where the plugin runs.
 */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? "0");
  const children = readChildren(pid);
  return Math.round((kb / 1024 + children.reduce((sum, c) => sum + peakRssMiB(c), 0)) * 10) / 10;
}

function readChildren(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Without cluster credentials: both plugins only strip, nothing reaches an apiserver. */
function isolatedEnv(): Record<string, string> {
  return { HOME: mkdtempSync(join(tmpdir(), "twinsnap-bench-home-")), KUBECONFIG: "", KUBERNETES_SERVICE_HOST: "" };
}

async function oneRound(p: PluginUnderTest, calls: number, startupRuns: number): Promise<RoundResult> {
  const before = loadavg().map(round2);
  const env = isolatedEnv();
  const startupMs: number[] = [];
  for (let i = 0; i < startupRuns; i++) {
    const h = await PluginHost.start({ command: p.command, env });
    startupMs.push(Math.round(h.startMs * 10) / 10);
    await h.shutdown();
  }
  const host = await PluginHost.start({ command: p.command, env });
  const request = { plugin: p.plugin, item: jsonBytes(fixture("deployment")), backup: jsonBytes(fixture("velero-backup")) };
  const client = host.client("BackupItemActionV2");
  const execute = () => new Promise<void>((resolve, reject) => client.Execute!(request, (err: Error | null) => (err ? reject(err) : resolve())));
  const scenarios: Scenario[] = [];
  for (let i = 0; i < 200; i++) await execute(); // warm-up: JIT and connection
  for (const inFlight of [1, 16]) {
    const latencies: number[] = [];
    let next = 0;
    const began = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next++ < calls) {
          const t = process.hrtime.bigint();
          await execute();
          latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - began) / 1e9;
    latencies.sort((a, b) => a - b);
    const r = (x: number) => Math.round(x * 1000) / 1000;
    scenarios.push({ inFlight, calls, callsPerSecond: Math.round(calls / seconds), p50Ms: r(percentile(latencies, 50)), p99Ms: r(percentile(latencies, 99)), maxMs: r(latencies.at(-1)!) });
  }
  const peak = peakRssMiB(host.pid);
  await host.shutdown();
  const veleroClient = await throughVeleroClient(p, 3000);
  return { startupMs, scenarios, peakRssMiB: peak, veleroClient, loadAverage: { before, after: loadavg().map(round2) } };
}

async function throughVeleroClient(p: PluginUnderTest, calls: number): Promise<{ calls: number; msPerCall: number }> {
  const { dir } = pluginDir(p.command);
  const call = { op: "execute", kind: "BackupItemActionV2", name: p.plugin, item: fixture("deployment"), backup: fixture("velero-backup") };
  const timed = async (n: number) => {
    const t = performance.now();
    const { results } = await runVeleroClient(dir, Array.from({ length: n }, () => call), isolatedEnv());
    const failed = results.find((r) => !r.ok);
    if (failed) throw new Error(`${p.label} through Velero's client: ${failed.error}`);
    return performance.now() - t;
  };
  const one = await timed(1);
  const all = await timed(calls);
  return { calls, msPerCall: Math.round(((all - one) / (calls - 1)) * 1000) / 1000 };
}

/**
 * Runs every plugin `rounds` times, alternating (A B, B A, A B, ...) so that a change of load on the machine
 * falls on all of them alike; medians over rounds. `reference` and `subject` name the forms the ratios compare.
 */
export async function benchPluginExecute(
  plugins: PluginUnderTest[],
  opts: { rounds?: number; callsPerScenario?: number; startupRuns?: number; subject?: string; reference?: string } = {},
): Promise<ExecuteBenchResult> {
  const rounds = opts.rounds ?? 3;
  const calls = opts.callsPerScenario ?? 4000;
  const results = new Map<string, RoundResult[]>(plugins.map((p) => [p.label, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? plugins : [...plugins].reverse();
    for (const p of order) {
      process.stderr.write(`  round ${r + 1}/${rounds}: ${p.label}\n`);
      results.get(p.label)!.push(await oneRound(p, calls, opts.startupRuns ?? 5));
    }
  }
  const forms: ExecuteBenchResult["forms"] = {};
  for (const p of plugins) {
    const rs = results.get(p.label)!;
    const at = (inFlight: number, f: (s: Scenario) => number) => median(rs.map((x) => f(x.scenarios.find((s) => s.inFlight === inFlight)!)));
    forms[p.label] = {
      command: p.command,
      plugin: p.plugin,
      rounds: rs,
      median: {
        startupMs: median(rs.flatMap((x) => x.startupMs)),
        callsPerSecond: { "1": at(1, (s) => s.callsPerSecond), "16": at(16, (s) => s.callsPerSecond) },
        p50Ms: { "1": at(1, (s) => s.p50Ms), "16": at(16, (s) => s.p50Ms) },
        peakRssMiB: median(rs.map((x) => x.peakRssMiB)),
        veleroClientMsPerCall: median(rs.map((x) => x.veleroClient.msPerCall)),
      },
    };
  }
  const subject = opts.subject && forms[opts.subject];
  const reference = opts.reference && forms[opts.reference];
  const ratios =
    subject && reference
      ? {
          throughputAt1: round2(subject.median.callsPerSecond["1"]! / reference.median.callsPerSecond["1"]!),
          throughputAt16: round2(subject.median.callsPerSecond["16"]! / reference.median.callsPerSecond["16"]!),
          startToHandshake: round2(subject.median.startupMs / reference.median.startupMs),
          peakRss: round2(subject.median.peakRssMiB / reference.median.peakRssMiB),
          throughVeleroClient: round2(reference.median.veleroClientMsPerCall / subject.median.veleroClientMsPerCall),
        }
      : undefined;
  return { name: "plugin-execute", itemBytes: jsonBytes(fixture("deployment")).length, rounds, forms, ...(ratios ? { ratios } : {}) };
}
