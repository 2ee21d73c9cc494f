// Reads the items of a Velero backup tarball (<backup>.tar.gz, as Velero writes it to object storage)
// as a stream, one item at a time: only the tar entry being read is in memory.
// Layout (Velero pkg/archive): resources/<group-resource>/{namespaces/<ns>,cluster}/<name>.json holds the
// item in its preferred version; resources/<group-resource>/<version>[-preferredversion]/... holds copies per
// version, which are skipped here.
import { createGunzip } from "node:zlib";
import type { Readable } from "node:stream";
import { extract } from "tar-stream";
import { asKubeObject, type KubeObject } from "../manifest/object.js";
import { parseJsonText } from "../manifest/json-text.js";
import { namespaceProblem, objectNameProblem, resourceProblem } from "../manifest/export-layout.js";

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

/**
 * A backup tarball is foreign input: a few kilobytes of gzip can expand to gigabytes. Kubernetes stores no object
 * larger than about 1.5 MiB (etcd's request limit), so an item entry is bounded generously; the whole archive
 * (skipped entries too, which still cost time to decompress) is bounded by what a very large cluster writes.
 */
export interface BackupArchiveLimits {
  /** Uncompressed bytes of one item entry (default 64 MiB). */
  maxEntryBytes?: number;
  /** Uncompressed bytes of every entry together (default 16 GiB). */
  maxTotalBytes?: number;
}
export const DEFAULT_ARCHIVE_LIMITS: Required<BackupArchiveLimits> = { maxEntryBytes: 64 * 1024 * 1024, maxTotalBytes: 16 * 1024 * 1024 * 1024 };

export async function* readBackupItems(tarGz: Readable, limits: BackupArchiveLimits = {}): AsyncGenerator<BackupItem> {
  const { maxEntryBytes, maxTotalBytes } = { ...DEFAULT_ARCHIVE_LIMITS, ...limits };
  const gunzip = createGunzip();
  const tar = extract();
  tarGz.on("error", (err) => tar.destroy(err));
  gunzip.on("error", (err) => tar.destroy(new BackupArchiveError(`not a gzip-compressed Velero backup (${err.message})`, undefined, { cause: err })));
  tarGz.pipe(gunzip).pipe(tar);
  let items = 0;
  let total = 0;
  const count = (bytes: number, path: string) => {
    total += bytes;
    if (total > maxTotalBytes) {
      throw new BackupArchiveError(`the archive's uncompressed entries add up to more than ${maxTotalBytes} bytes; refused (a gzip bomb, or not a Velero backup)`, path);
    }
  };
  try {
    for await (const entry of tar) {
      const path = entry.header.name.replace(/^\.\//, "");
      const match = entry.header.type === "file" ? ITEM_PATH.exec(path) : null;
      if (!match) {
        for await (const chunk of entry) count((chunk as Buffer).length, path);
        continue;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of entry) {
        size += (chunk as Buffer).length;
        count((chunk as Buffer).length, path);
        if (size > maxEntryBytes) throw new BackupArchiveError(`the entry is larger than ${maxEntryBytes} bytes uncompressed; refused (no Kubernetes object is that large)`, path);
        chunks.push(chunk as Buffer);
      }
      let object: KubeObject;
      try {
        object = asKubeObject(parseJsonText(Buffer.concat(chunks).toString("utf8")));
      } catch (err) {
        throw new BackupArchiveError(`not a Kubernetes object (${(err as Error).message})`, path, { cause: err });
      }
      const item = { groupResource: match[1]!, namespace: match[2] ?? "", name: match[3]!, object };
      checkIdentity(item, path);
      items++;
      yield item;
    }
  } catch (err) {
    if (err instanceof BackupArchiveError) throw err;
    throw new BackupArchiveError(`the backup archive is damaged or truncated after ${items} items (${(err as Error).message})`, undefined, { cause: err });
  }
}

/**
 * The tar path and the object must name the same thing, in Kubernetes' syntax: filters read one and output paths
 * use the other, so a crafted item that disagrees could pass a namespace filter or name a file outside the tree.
 */
function checkIdentity(item: BackupItem, path: string): void {
  const problem = (what: string, value: unknown, why: string | undefined) => {
    if (why) throw new BackupArchiveError(`crafted entry: ${what} ${JSON.stringify(value)} ${why}; refused`, path);
  };
  problem("resource", item.groupResource, resourceProblem(item.groupResource));
  if (item.namespace !== "") problem("namespace", item.namespace, namespaceProblem(item.namespace));
  problem("name", item.name, objectNameProblem(item.name));
  const { namespace, name } = item.object.metadata;
  if ((namespace ?? "") !== item.namespace) {
    throw new BackupArchiveError(`crafted entry: the object's namespace ${JSON.stringify(namespace ?? "")} is not its tar path's ${JSON.stringify(item.namespace)}; refused`, path);
  }
  if (name !== item.name) {
    throw new BackupArchiveError(`crafted entry: the object's name ${JSON.stringify(name)} is not its tar path's ${JSON.stringify(item.name)}; refused`, path);
  }
}
