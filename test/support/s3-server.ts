// moto's S3 server on loopback for tests (installed by `bash scripts/peers.sh s3-server`; MOTO_SERVER_BIN), on
// a free port, with buckets made and a shared credentials file (moto checks no signatures: any key works).
// It can be killed and started again on the same port, for fault tests. State is in memory only.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { freePort } from "./control-plane.js";
import { peer } from "./peers.js";

export interface S3Server {
  url: string;
  port: number;
  dir: string;
  /** An AWS shared credentials file with a [default] profile. */
  credentialsFile: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** A client for assertions (what the bucket really holds). */
  client: S3Client;
  createBucket(name: string): Promise<void>;
  /** Every key in the bucket (under `prefix`). */
  keys(bucket: string, prefix?: string): Promise<string[]>;
  /** Multipart uploads begun and neither completed nor aborted. */
  pendingUploads(bucket: string): Promise<{ key: string; uploadId: string }[]>;
  /** SIGKILL, as a crash: nothing is flushed. */
  kill(): Promise<void>;
  /** Starts again on the same port (empty: moto keeps nothing). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startS3Server(opts: { buckets?: string[] } = {}): Promise<S3Server> {
  // The SDK warns once per process that its 2027 releases need Node 22: noise in test output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const bin = peer("MOTO_SERVER_BIN");
  const dir = mkdtempSync(join(tmpdir(), "twinsnap-s3-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const credentials = { accessKeyId: "twinsnap", secretAccessKey: "twinsnap-secret" };
  const credentialsFile = join(dir, "s3-credentials");
  writeFileSync(credentialsFile, `[default]\naws_access_key_id = ${credentials.accessKeyId}\naws_secret_access_key = ${credentials.secretAccessKey}\n`);
  let child: ChildProcess | undefined;

  const start = async () => {
    const log = createWriteStream(join(dir, "s3.log"), { flags: "a" });
    child = spawn(bin, ["-H", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    const exited = new Promise<never>((_, reject) => child!.once("exit", (code) => reject(new Error(`moto exited (${code}) before it answered; see ${join(dir, "s3.log")}`))));
    exited.catch(() => undefined);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ok = await Promise.race([fetch(`${url}/moto-api/`).then((r) => r.ok, () => false), exited]);
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`moto not ready after 60 s; see ${join(dir, "s3.log")}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const stopChild = async (signal: NodeJS.Signals) => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once("exit", () => r()));
    c.kill(signal);
    await exited;
  };

  await start();
  const client = new S3Client({ region: "us-east-1", endpoint: url, forcePathStyle: true, credentials });
  const server: S3Server = {
    url,
    port,
    dir,
    credentialsFile,
    credentials,
    client,
    async createBucket(name) {
      const res = await fetch(`${url}/${name}`, { method: "PUT" });
      if (!res.ok) throw new Error(`creating bucket ${name}: ${res.status} ${await res.text()}`);
    },
    async keys(bucket, prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ...(prefix ? { Prefix: prefix } : {}), ...(token ? { ContinuationToken: token } : {}) }));
        keys.push(...(page.Contents ?? []).map((o) => o.Key!));
        token = page.NextContinuationToken;
      } while (token);
      return keys.sort();
    },
    async pendingUploads(bucket) {
      const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      return (page.Uploads ?? []).map((u) => ({ key: u.Key!, uploadId: u.UploadId! }));
    },
    kill: () => stopChild("SIGKILL"),
    async restart() {
      await stopChild("SIGTERM");
      await start();
    },
    async stop() {
      client.destroy();
      await stopChild("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
  for (const b of opts.buckets ?? []) await server.createBucket(b);
  return server;
}
