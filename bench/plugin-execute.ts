// Benchmark: Execute round trips to the plugin process over its unix socket, as Velero makes them.
// Reports latency percentiles, calls/s, the plugin's peak RSS and its start time to handshake.
import { readFileSync } from "node:fs";
import { fixture, pluginCommand } from "../test/support/fixtures.js";
import { jsonBytes, PluginHost } from "../test/support/go-plugin-host.js";

export interface ExecuteBenchResult {
  name: string;
  command: string;
  itemBytes: number;
  startupMs: { runs: number[]; median: number };
  scenarios: { inFlight: number; calls: number; callsPerSecond: number; p50Ms: number; p99Ms: number; maxMs: number }[];
  pluginPeakRssMiB: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Peak resident set of a process, from the kernel's high-water mark. */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? "0");
  return Math.round((kb / 1024) * 10) / 10;
}

export async function benchPluginExecute(opts: { callsPerScenario?: number; startupRuns?: number; command?: string } = {}): Promise<ExecuteBenchResult> {
  const command = opts.command ?? pluginCommand();
  const calls = opts.callsPerScenario ?? 4000;
  const startups: number[] = [];
  for (let i = 0; i < (opts.startupRuns ?? 5); i++) {
    const h = await PluginHost.start({ command });
    startups.push(Math.round(h.startMs * 10) / 10);
    await h.shutdown();
  }

  const host = await PluginHost.start({ command });
  const item = jsonBytes(fixture("deployment"));
  const backup = jsonBytes(fixture("velero-backup"));
  const request = { plugin: "twinsnap.dev/strip-runtime-fields", item, backup };
  const client = host.client("BackupItemActionV2");
  const execute = () =>
    new Promise<void>((resolve, reject) => client.Execute!(request, (err: Error | null) => (err ? reject(err) : resolve())));

  const scenarios: ExecuteBenchResult["scenarios"] = [];
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
  const pluginPeakRssMiB = peakRssMiB(host.pid);
  await host.shutdown();
  startups.sort((a, b) => a - b);
  return {
    name: "plugin-execute",
    command,
    itemBytes: item.length,
    startupMs: { runs: startups, median: percentile(startups, 50) },
    scenarios,
    pluginPeakRssMiB,
  };
}
