// Writes an export tree all-or-nothing: files go to a staging directory beside the target, which is renamed
// into place only when every object was written. An interrupted export leaves no half tree behind.
// The tree holds Secrets: directories are 0700 and files 0600 whatever the umask, and no path may leave it.
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { chmod, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative, resolve, isAbsolute } from "node:path";

export class ExportTargetError extends Error {
  override readonly name = "ExportTargetError";
}

export class ExportTreeWriter {
  private readonly staging: string;
  private readonly written = new Set<string>();

  private constructor(readonly target: string) {
    this.staging = join(dirname(target), `.${basename(target)}.partial-${randomBytes(4).toString("hex")}`);
  }

  static async open(target: string, opts: { force: boolean }): Promise<ExportTreeWriter> {
    if (existsSync(target) && readdirSync(target).length > 0 && !opts.force) {
      throw new ExportTargetError(`${target} exists and is not empty; choose another --out or pass --force to replace it`);
    }
    const writer = new ExportTreeWriter(target);
    await mkdir(dirname(writer.staging), { recursive: true });
    await mkdir(writer.staging, { mode: 0o700 });
    await chmod(writer.staging, 0o700);
    return writer;
  }

  async write(relativePath: string, text: string): Promise<void> {
    if (this.written.has(relativePath)) throw new ExportTargetError(`two objects map to ${relativePath}`);
    const path = resolve(this.staging, relativePath);
    const inside = relative(this.staging, path);
    if (inside === "" || inside.startsWith("..") || isAbsolute(inside)) {
      throw new ExportTargetError(`refusing to write ${JSON.stringify(relativePath)}: it is not inside the export tree`);
    }
    this.written.add(relativePath);
    await mkdirPrivate(this.staging, dirname(inside));
    await writeFile(path, text, { mode: 0o600 });
    await chmod(path, 0o600); // writeFile's mode is masked by the umask and ignored for an existing file
  }

  get count(): number {
    return this.written.size;
  }

  async commit(): Promise<void> {
    await mkdir(dirname(this.target), { recursive: true });
    if (existsSync(this.target)) await rm(this.target, { recursive: true, force: true });
    await rename(this.staging, this.target);
  }

  async abort(): Promise<void> {
    await rm(this.staging, { recursive: true, force: true });
  }
}

/** Creates each missing directory of `rel` under `root` with mode 0700 (mkdir's mode is masked by the umask). */
async function mkdirPrivate(root: string, rel: string): Promise<void> {
  let dir = root;
  for (const part of rel.split(/[\\/]/).filter((p) => p !== "" && p !== ".")) {
    dir = join(dir, part);
    try {
      await mkdir(dir, { mode: 0o700 });
      await chmod(dir, 0o700);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
}
