// The embedded default store: a directory (file:///var/lib/twinsnap). Objects are written to a temporary file
// in the same directory, flushed to disk, then renamed into place — rename is atomic on POSIX filesystems.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { link, mkdir, open, readdir, rename, rm, stat, statfs, writeFile } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { checkKey, ObjectNotFoundError, StoreWriteError, type ObjectStore, type PutResult } from "./object-store.js";

const PARTIAL = ".partial-";
// Errors a retry cannot fix without someone changing the directory; a full disk may be freed (retention).
const PERMANENT = new Set(["EACCES", "EPERM", "EROFS", "ENOTDIR", "EISDIR"]);
/** A partial file untouched this long was left by a writer that died (a live write touches it continuously). */
export const ABANDONED_PARTIAL_MS = 15 * 60_000;

export class FilesystemStore implements ObjectStore {
  readonly url: string;

  constructor(readonly root: string) {
    this.url = `file://${root}`;
  }

  async put(key: string, body: Readable): Promise<PutResult> {
    const path = join(this.root, checkKey(key));
    const partial = `${path}${PARTIAL}${randomBytes(4).toString("hex")}`;
    const hash = createHash("sha256");
    let size = 0;
    try {
      // Snapshots hold every Secret of the cluster: readable by the coordinator's user only.
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await this.removeAbandonedPartialsOf(path);
      const tap = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      });
      // A MiB in flight: the writer takes the next chunks while the disk writes the last ones (writev).
      await pipeline(body, tap, createWriteStream(partial, { flags: "wx", mode: 0o600, highWaterMark: 1024 * 1024 }));
      const handle = await open(partial, "r+");
      await handle.sync();
      await handle.close();
      await rename(partial, path);
      return { size, sha256: hash.digest("hex") };
    } catch (err) {
      await rm(partial, { force: true });
      throw new StoreWriteError(this.url, key, { cause: err, recoverable: !PERMANENT.has((err as NodeJS.ErrnoException).code ?? "") });
    }
  }

  /** link(2) fails with EEXIST if the key exists: the complete file appears atomically, or not at all. */
  async createIfAbsent(key: string, content: string): Promise<boolean> {
    const path = join(this.root, checkKey(key));
    const partial = `${path}${PARTIAL}${randomBytes(4).toString("hex")}`;
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await writeFile(partial, content, { flag: "wx", mode: 0o600 });
      await link(partial, path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw new StoreWriteError(this.url, key, { cause: err, recoverable: !PERMANENT.has((err as NodeJS.ErrnoException).code ?? "") });
    } finally {
      await rm(partial, { force: true });
    }
  }

  /** A writer killed mid-put (SIGKILL, node lost) cannot clean up: the next put of the same key does. */
  private async removeAbandonedPartialsOf(path: string): Promise<void> {
    const prefix = `${path.slice(dirname(path).length + 1)}${PARTIAL}`;
    const cutoff = Date.now() - ABANDONED_PARTIAL_MS;
    for (const name of await readdir(dirname(path))) {
      if (!name.startsWith(prefix)) continue;
      const file = join(dirname(path), name);
      const s = await stat(file).catch(() => undefined);
      if (s && s.mtimeMs < cutoff) await rm(file, { force: true });
    }
  }

  /** Every abandoned partial file under the root (a killed writer's, of any key): at coordinator start and by retention. */
  async removeAbandonedPartials(): Promise<string[]> {
    const cutoff = Date.now() - ABANDONED_PARTIAL_MS;
    const removed: string[] = [];
    const entries = await readdir(this.root, { recursive: true, withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isFile() || !e.name.includes(PARTIAL)) continue;
      const file = join(e.parentPath, e.name);
      const s = await stat(file).catch(() => undefined);
      if (s && s.mtimeMs < cutoff) {
        await rm(file, { force: true });
        removed.push(relative(this.root, file).split(sep).join("/"));
      }
    }
    return removed;
  }

  async freeBytes(): Promise<number | undefined> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    const s = await statfs(this.root);
    return Number(s.bavail) * Number(s.bsize);
  }

  async get(key: string): Promise<Readable> {
    const path = join(this.root, checkKey(key));
    if (!(await this.head(key))) throw new ObjectNotFoundError(this.url, key);
    return createReadStream(path);
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    try {
      const s = await stat(join(this.root, checkKey(key)));
      return s.isFile() ? { size: s.size } : undefined;
    } catch {
      return undefined;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const dir = join(this.root, prefix);
    let entries;
    try {
      entries = await readdir(dir, { recursive: true, withFileTypes: true });
    } catch {
      return [];
    }
    return entries
      .filter((e) => e.isFile() && !e.name.includes(PARTIAL))
      .map((e) => relative(this.root, join(e.parentPath, e.name)).split(sep).join("/"))
      .sort();
  }

  async delete(key: string): Promise<void> {
    await rm(join(this.root, checkKey(key)), { force: true });
  }
}
