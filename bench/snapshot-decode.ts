// Benchmark: decoding every object of an etcd snapshot offline (`twinsnap snapshot get` / `pairs diff` read this
// way): a real etcd 3.6 filled with 100,000 Kubernetes objects as the apiserver stores them — protobuf in the
// runtime.Unknown envelope (ConfigMaps, Deployments), Secrets encrypted with aescbc, custom resources as JSON —
// snapshotted by etcdctl, then read in a child process (wall time, peak RSS).
//   TWINSNAP_BENCH_DECODE_OBJECTS=100000   how many objects (default 100,000)
import { execFile } from "node:child_process";
import { createCipheriv, randomBytes } from "node:crypto";
import { readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Etcd3 } from "etcd3";
import protobuf from "protobufjs";
import { startStandaloneEtcd } from "../test/support/control-plane.js";
import { REPO_ROOT } from "../test/support/fixtures.js";
import { peer } from "../test/support/peers.js";

const run = promisify(execFile);

function protos(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? protos(join(dir, n)) : n.endsWith(".proto") ? [join(dir, n)] : []));
}

export async function benchSnapshotDecode(objects = Number(process.env.TWINSNAP_BENCH_DECODE_OBJECTS ?? 100_000)): Promise<object> {
  const protoDir = join(REPO_ROOT, "proto-kube");
  const root = new protobuf.Root();
  root.resolvePath = (_o, target) => (target.startsWith("/") ? target : join(protoDir, target));
  root.loadSync(protos(protoDir), { keepCase: true });
  const Unknown = root.lookupType("k8s.io.apimachinery.pkg.runtime.Unknown");
  const stored = (apiVersion: string, kind: string, type: string, body: object) =>
    Buffer.concat([Buffer.from("k8s\0", "latin1"), Unknown.encode({ typeMeta: { apiVersion, kind }, raw: root.lookupType(type).encode(root.lookupType(type).fromObject(body)).finish() }).finish()]);
  const key = randomBytes(32);
  const aescbc = (plain: Buffer) => {
    const iv = randomBytes(16);
    const c = createCipheriv("aes-256-cbc", key, iv);
    return Buffer.concat([Buffer.from("k8s:enc:aescbc:v1:key1:"), iv, c.update(plain), c.final()]);
  };
  const meta = (name: string, ns: string, i: number) => ({ name, namespace: ns, uid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`, creationTimestamp: { seconds: 1_790_000_000 + i }, labels: { app: `app-${i % 50}`, team: `team-${i % 20}` } });
  const value = (i: number): [string, Buffer] => {
    const ns = `team-${i % 20}`;
    switch (i % 4) {
      case 0:
        return [`/registry/configmaps/${ns}/cm-${i}`, stored("v1", "ConfigMap", "k8s.io.api.core.v1.ConfigMap", { metadata: meta(`cm-${i}`, ns, i), data: { "app.properties": `mode=${i}\n${"x".repeat(200)}` } })];
      case 1:
        return [
          `/registry/deployments/${ns}/web-${i}`,
          stored("apps/v1", "Deployment", "k8s.io.api.apps.v1.Deployment", {
            metadata: meta(`web-${i}`, ns, i),
            spec: {
              replicas: 2,
              selector: { matchLabels: { app: `web-${i}` } },
              template: { metadata: { labels: { app: `web-${i}` } }, spec: { containers: [{ name: "web", image: "nginx:1.27", ports: [{ containerPort: 8080 }], resources: { requests: { cpu: { string: "100m" }, memory: { string: "128Mi" } } } }] } },
              strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: { type: 1, strVal: "25%" } } },
            },
          }),
        ];
      case 2:
        return [`/registry/secrets/${ns}/s-${i}`, aescbc(stored("v1", "Secret", "k8s.io.api.core.v1.Secret", { metadata: meta(`s-${i}`, ns, i), type: "Opaque", data: { password: randomBytes(24) } }))];
      default:
        return [`/registry/example.com/widgets/${ns}/w-${i}`, Buffer.from(JSON.stringify({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: `w-${i}`, namespace: ns, uid: `w-${i}`, creationTimestamp: "2026-12-04T10:00:00Z" }, spec: { size: i, color: "blue" } }))];
    }
  };

  const etcd = await startStandaloneEtcd("bench-decode");
  try {
    const client = new Etcd3({ hosts: etcd.endpoint });
    const fillStart = performance.now();
    for (let i = 0; i < objects; i += 100) {
      const ops = [];
      for (let j = i; j < Math.min(objects, i + 100); j++) {
        const [k, v] = value(j);
        ops.push(client.put(k).value(v));
      }
      await client.if("/none", "Version", "==", 0).then(...ops).commit();
    }
    client.close();
    const fillMs = performance.now() - fillStart;
    const file = join(etcd.dir, "bench.db");
    await run(peer("ETCDCTL_BIN"), ["--endpoints", etcd.endpoint, "snapshot", "save", file]);
    const config = join(etcd.dir, "encryption.yaml");
    writeFileSync(config, `apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n      - aescbc: { keys: [{ name: key1, secret: ${key.toString("base64")} }] }\n`);
    const { stdout } = await run(process.execPath, [join(REPO_ROOT, "dist", "bench", "snapshot-decode-child.js"), file, config], { maxBuffer: 16 * 2 ** 20 });
    const child = JSON.parse(stdout) as { objects: number; states: Record<string, number>; ms: number; maxRssMiB: number };
    if (child.objects !== objects || child.states.object !== objects) throw new Error(`decoded ${JSON.stringify(child)} of ${objects}`);
    return { objects, snapshotMiB: +(statSync(file).size / 2 ** 20).toFixed(1), fillSeconds: +(fillMs / 1000).toFixed(1), decodeSeconds: +(child.ms / 1000).toFixed(2), objectsPerSecond: Math.round(objects / (child.ms / 1000)), maxRssMiB: child.maxRssMiB, states: child.states };
  } finally {
    await etcd.stop();
  }
}
