// Writes an export tree all-or-nothing: files go to a staging directory beside the target, which is renamed
// into place only when every object was written. An interrupted export leaves no half tree behind.
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

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
    await mkdir(writer.staging, { recursive: true });
    return writer;
  }

  async write(relativePath: string, text: string): Promise<void> {
    if (this.written.has(relativePath)) throw new ExportTargetError(`two objects map to ${relativePath}`);
    this.written.add(relativePath);
    const path = join(this.staging, relativePath);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
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
