// Benchmark: putting a large stream of unknown length into the file store and into the S3 store (moto on
// loopback), side by side in one run: throughput, and the peak resident set of the writing process for 1 MiB,
// 64 MiB and 1 GiB — flat when memory is constant (the S3 store holds at most part size × (queue + 1) of data).
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "../test/support/fixtures.js";
import { startS3Server } from "../test/support/s3-server.js";

const run = promisify(execFile);

async function put(url: string, mib: number, env: NodeJS.ProcessEnv): Promise<{ seconds: number; bytes: number; peakRssMiB: number }> {
  const { stdout } = await run(process.execPath, [join(REPO_ROOT, "dist", "bench", "store-put-child.js"), url, String(mib)], { env });
  return JSON.parse(stdout);
}

export async function benchStorePut(sizesMiB = [1, 64, 1024]) {
  const s3 = await startS3Server({ buckets: ["bench"] });
  const dir = mkdtempSync(join(tmpdir(), "twinsnap-bench-store-"));
  const env = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: s3.credentialsFile, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" };
  const stores = { file: `file://${dir}`, s3: `s3://bench/twinsnap?endpoint=${s3.url}&forcePathStyle=true` };
  try {
    const result: Record<string, { mib: number; seconds: number; mibPerSecond: number; peakRssMiB: number }[]> = {};
    for (const [name, url] of Object.entries(stores)) {
      result[name] = [];
      for (const mib of sizesMiB) {
        const r = await put(url, mib, env);
        result[name]!.push({ mib, seconds: Math.round(r.seconds * 100) / 100, mibPerSecond: Math.round((mib / r.seconds) * 10) / 10, peakRssMiB: r.peakRssMiB });
      }
    }
    const largest = (name: string) => result[name]!.at(-1)!;
    return {
      name: "store-put",
      ...result,
      // Peak memory putting the largest size over putting 64 MiB: 1.0 is constant memory.
      s3PeakRssLargestOver64MiB: Math.round((largest("s3").peakRssMiB / result.s3!.find((r) => r.mib === 64)!.peakRssMiB) * 100) / 100,
      s3ToFileThroughput: Math.round((largest("s3").mibPerSecond / largest("file").mibPerSecond) * 100) / 100,
    };
  } finally {
    await s3.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
