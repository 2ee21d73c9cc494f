// How a stored etcd snapshot is compressed. zstd (Node 24's zlib) is the default: on this machine it compresses
// a snapshot about ten times faster than gzip at a similar ratio, which is what lets a snapshot keep pace with
// `etcdctl snapshot save`. gzip stays readable everywhere a snapshot is read (every record before zstd says
// "gzip"), and can still be chosen; "none" stores the database as etcd sent it.
// zlib runs compression on libuv's thread pool: the main thread only hashes and moves buffers.
import { PassThrough, type Transform } from "node:stream";
import zlib from "node:zlib";

export const SNAPSHOT_COMPRESSIONS = ["zstd", "gzip", "none"] as const;
export type SnapshotCompression = (typeof SNAPSHOT_COMPRESSIONS)[number];
export const DEFAULT_SNAPSHOT_COMPRESSION: SnapshotCompression = "zstd";

export class UnknownCompressionError extends Error {
  override readonly name = "UnknownCompressionError";
  constructor(readonly given: string) {
    super(`unknown compression "${given}": use one of ${SNAPSHOT_COMPRESSIONS.join(", ")}`);
  }
}

export function parseCompression(value: string): SnapshotCompression {
  const c = SNAPSHOT_COMPRESSIONS.find((x) => x === value);
  if (!c) throw new UnknownCompressionError(value);
  return c;
}

/** The file name ending a snapshot's key gets, so a person listing the store knows how to open it. */
export function snapshotExtension(c: SnapshotCompression): string {
  return { zstd: ".db.zst", gzip: ".db.gz", none: ".db" }[c];
}

/** For readers that have only a key (records name their compression): by its ending, `.db.gz` before zstd existed. */
export function compressionOfKey(key: string): SnapshotCompression {
  key = key.replace(/\.age$/, ""); // encrypted: the compression is inside
  if (key.endsWith(".zst")) return "zstd";
  if (key.endsWith(".gz")) return "gzip";
  return "none";
}

/**
 * Output buffer of each zlib step. zlib's default (16 KiB) makes a thread-pool round trip and a callback on the
 * main thread per 16 KiB: for a 512 MiB snapshot that is tens of thousands of them, and the stream waited on them.
 */
const CHUNK_BYTES = 1024 * 1024;

export function compressor(c: SnapshotCompression): Transform {
  switch (c) {
    case "zstd":
      // Level 1: at the speed of the disk; the content checksum lets any zstd tool check the file on its own.
      return zlib.createZstdCompress({ chunkSize: CHUNK_BYTES, params: { [zlib.constants.ZSTD_c_compressionLevel]: 1, [zlib.constants.ZSTD_c_checksumFlag]: 1 } });
    case "gzip":
      return zlib.createGzip({ chunkSize: CHUNK_BYTES });
    case "none":
      return new PassThrough();
  }
}

export function decompressor(c: SnapshotCompression): Transform {
  switch (c) {
    case "zstd":
      return zlib.createZstdDecompress({ chunkSize: CHUNK_BYTES });
    case "gzip":
      return zlib.createGunzip({ chunkSize: CHUNK_BYTES });
    case "none":
      return new PassThrough();
  }
}
