// The measured side of bench/snapshot-decode.ts, in its own process so that peak RSS is its own: every object of a
// snapshot decoded (and decrypted), as `snapshot get` and `pairs diff` read them.
import { readFileSync } from "node:fs";
import { SnapshotReader } from "../src/etcd/snapshot-keys.js";
import { parseEncryptionConfig } from "../src/kube-storage/encryption.js";
import { snapshotObjects } from "../src/kube-storage/snapshot-objects.js";

const [file, config] = process.argv.slice(2);
const keys = parseEncryptionConfig(readFileSync(config!, "utf8"), config!);
const start = performance.now();
const reader = await SnapshotReader.open(file!);
const states: Record<string, number> = {};
let objects = 0;
for await (const o of snapshotObjects(reader, { keys })) {
  if ("internal" in o) continue;
  objects++;
  states[o.value.state] = (states[o.value.state] ?? 0) + 1;
}
await reader.close();
const ms = performance.now() - start;
process.stdout.write(`${JSON.stringify({ objects, states, ms, maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) })}\n`);
