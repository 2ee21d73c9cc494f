// The S3-compatible server (moto, scripts/peers/s3-server.sh) on loopback that both clusters' Velero servers
// share, as after a cluster loss: the new cluster's Velero finds the old backups in the same bucket.
// moto verifies no signatures, but answers requests without any as an anonymous user (403 on private
// objects): the tests' GETs carry an Authorization header of the right form with a dummy signature.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { readBackupItems, type BackupItem } from "../../../src/velero/backup-archive.js";
import { REPO_ROOT } from "../../support/fixtures.js";

const run = promisify(execFile);
const AUTHORIZATION = {
  authorization: "AWS4-HMAC-SHA256 Credential=twinsnap/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
};
const S3_SERVER = join(REPO_ROOT, "scripts", "peers", "s3-server.sh");

export interface ObjectStore {
  url: string;
  bucket: string;
  /** The credentials file Velero's AWS plugin reads (AWS_SHARED_CREDENTIALS_FILE). */
  credentialsFile: string;
  logPath: string;
  /** Object keys under a prefix. */
  list(prefix: string): Promise<string[]>;
  /** The object's bytes, read in full before returning (see get below). */
  get(key: string): Promise<Buffer>;
  /** The items of backup `name` as Velero stored them under `<prefix>/backups/<name>/<name>.tar.gz`. */
  backupItems(prefix: string, name: string): Promise<BackupItem[]>;
  stop(): Promise<void>;
}

export async function startObjectStore(dir: string, bucket = "velero"): Promise<ObjectStore> {
  try {
    await run("bash", [S3_SERVER, "start", dir, "--bucket", bucket]);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`cannot start the S3 server (moto): ${e.stderr?.trim() || e.message}`);
  }
  const env = Object.fromEntries(
    readFileSync(join(dir, "s3.env"), "utf8")
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  ) as Record<string, string>;
  const url = env.S3_URL!;
  const store: ObjectStore = {
    url,
    bucket,
    credentialsFile: env.AWS_SHARED_CREDENTIALS_FILE!,
    logPath: join(dir, "s3.log"),
    async list(prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const q = new URLSearchParams({ "list-type": "2", prefix, ...(token ? { "continuation-token": token } : {}) });
        const res = await fetch(`${url}/${bucket}?${q}`, { headers: AUTHORIZATION });
        if (!res.ok) throw new Error(`listing s3://${bucket}/${prefix}: HTTP ${res.status}`);
        const xml = await res.text();
        for (const m of xml.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(decodeXml(m[1]!));
        token = /<IsTruncated>true<\/IsTruncated>/.test(xml) ? /<NextContinuationToken>([^<]*)</.exec(xml)?.[1] : undefined;
      } while (token);
      return keys;
    },
    async get(key) {
      const res = await fetch(`${url}/${bucket}/${key.split("/").map(encodeURIComponent).join("/")}`, { headers: AUTHORIZATION });
      if (!res.ok) throw new Error(`s3://${bucket}/${key}: HTTP ${res.status}`);
      // Read at once: moto closes the connection after the body, and undici's HTTP/1 parser, paused while a slow
      // consumer (gunzip + tar) holds the body back, throws an uncatchable assertion on that FIN (nodejs/undici#5360).
      return Buffer.from(await res.arrayBuffer());
    },
    async backupItems(prefix, name) {
      const archive = await store.get(`${prefix}/backups/${name}/${name}.tar.gz`);
      const items: BackupItem[] = [];
      for await (const item of readBackupItems(Readable.from([archive]))) items.push(item);
      return items;
    },
    async stop() {
      await run("bash", [S3_SERVER, "stop", dir]).catch(() => undefined);
    },
  };
  return store;
}

function decodeXml(s: string): string {
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, "&");
}
