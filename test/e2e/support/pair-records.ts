// The coordinator's pair records as they lie in Velero's bucket: <prefix>/plugins/twinsnap/pairs/<uid>.json,
// beside <prefix>/plugins/twinsnap/snapshots/<uid>/<writer>.db.zst. Read with a plain S3 client, not twinsnap's own store
// (moto refuses anonymous GETs of what twinsnap uploads with checksums, so the client signs).
import { readFileSync } from "node:fs";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { PairRecord } from "../../../src/pairs/pair-record.js";
import type { ObjectStore } from "./object-store.js";

export const twinsnapPrefix = (prefix: string) => `${prefix}/plugins/twinsnap`;

const clients = new WeakMap<ObjectStore, S3Client>();
// As the CLI does (src/cli/cli-store.ts): the SDK's Node 22 notice is noise in a test run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

/** A signed S3 client for the e2e bucket, with the keys of the credentials file Velero reads too. */
export function s3Client(store: ObjectStore): S3Client {
  let client = clients.get(store);
  if (!client) {
    const text = readFileSync(store.credentialsFile, "utf8");
    const value = (key: string) => new RegExp(`^${key}\\s*=\\s*(\\S+)`, "m").exec(text)?.[1] ?? "";
    client = new S3Client({
      endpoint: store.url,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: value("aws_access_key_id"), secretAccessKey: value("aws_secret_access_key") },
    });
    clients.set(store, client);
  }
  return client;
}

export async function getObject(store: ObjectStore, key: string): Promise<Buffer> {
  const res = await s3Client(store).send(new GetObjectCommand({ Bucket: store.bucket, Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

export async function putObject(store: ObjectStore, key: string, body: string): Promise<void> {
  await s3Client(store).send(new PutObjectCommand({ Bucket: store.bucket, Key: key, Body: body }));
}

export async function deleteObject(store: ObjectStore, key: string): Promise<void> {
  await s3Client(store).send(new DeleteObjectCommand({ Bucket: store.bucket, Key: key }));
}

export async function pairRecordsInBucket(store: ObjectStore, prefix: string): Promise<PairRecord[]> {
  const keys = (await store.list(`${twinsnapPrefix(prefix)}/pairs/`)).filter((k) => k.endsWith(".json"));
  return Promise.all(keys.map(async (k) => JSON.parse((await getObject(store, k)).toString("utf8")) as PairRecord));
}

/** The top-level directories under a BackupStorageLocation's prefix (Velero allows backups, restores, restic, metadata, plugins, kopia). */
export async function topLevelDirectories(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys = await store.list(`${prefix}/`);
  return [...new Set(keys.map((k) => k.slice(prefix.length + 1).split("/")[0]!).filter((d) => d !== ""))].sort();
}
