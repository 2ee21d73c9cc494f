// Reads the items of a Velero backup tarball (<backup>.tar.gz, as Velero writes it to object storage)
// as a stream, one item at a time: only the tar entry being read is in memory.
// Layout (Velero pkg/archive): resources/<group-resource>/{namespaces/<ns>,cluster}/<name>.json holds the
// item in its preferred version; resources/<group-resource>/<version>[-preferredversion]/... holds copies per
// version, which are skipped here.
import { createGunzip } from "node:zlib";
import type { Readable } from "node:stream";
import { extract } from "tar-stream";
import { asKubeObject, type KubeObject } from "../manifest/object.js";

export class BackupArchiveError extends Error {
  override readonly name = "BackupArchiveError";
  constructor(
    message: string,
    readonly entry?: string,
    options?: { cause?: unknown },
  ) {
    super(entry ? `${entry}: ${message}` : message, options);
  }
}

export interface BackupItem {
  groupResource: string;
  /** "" for cluster-scoped items. */
  namespace: string;
  name: string;
  object: KubeObject;
}

const ITEM_PATH = /^resources\/([^/]+)\/(?:namespaces\/([^/]+)|cluster)\/([^/]+)\.json$/;

export async function* readBackupItems(tarGz: Readable): AsyncGenerator<BackupItem> {
  const gunzip = createGunzip();
  const tar = extract();
  tarGz.on("error", (err) => tar.destroy(err));
  gunzip.on("error", (err) => tar.destroy(new BackupArchiveError(`not a gzip-compressed Velero backup (${err.message})`, undefined, { cause: err })));
  tarGz.pipe(gunzip).pipe(tar);
  let items = 0;
  try {
    for await (const entry of tar) {
      const path = entry.header.name.replace(/^\.\//, "");
      const match = entry.header.type === "file" ? ITEM_PATH.exec(path) : null;
      if (!match) {
        entry.resume();
        continue;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      let object: KubeObject;
      try {
        object = asKubeObject(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch (err) {
        throw new BackupArchiveError(`not a Kubernetes object (${(err as Error).message})`, path, { cause: err });
      }
      items++;
      yield { groupResource: match[1]!, namespace: match[2] ?? "", name: match[3]!, object };
    }
  } catch (err) {
    if (err instanceof BackupArchiveError) throw err;
    throw new BackupArchiveError(`the backup archive is damaged or truncated after ${items} items (${(err as Error).message})`, undefined, { cause: err });
  }
}
