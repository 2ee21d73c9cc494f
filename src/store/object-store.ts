// Where twinsnap keeps snapshots and pair records. Every store writes atomically: an object is visible under
// its key only once it is complete, so an interrupted upload never looks like a snapshot.
import type { Readable } from "node:stream";

export interface PutResult {
  size: number;
  /** sha256 of the bytes stored, hex. */
  sha256: string;
}

export interface ObjectStore {
  /** e.g. "file:///var/lib/twinsnap" — for messages and records. */
  readonly url: string;
  put(key: string, body: Readable): Promise<PutResult>;
  /** The object's bytes; rejects with ObjectNotFoundError if absent. */
  get(key: string): Promise<Readable>;
  head(key: string): Promise<{ size: number } | undefined>;
  list(prefix: string): Promise<string[]>;
  delete(key: string): Promise<void>;
}

export class ObjectNotFoundError extends Error {
  override readonly name = "ObjectNotFoundError";
  constructor(
    readonly store: string,
    readonly key: string,
  ) {
    super(`${key} does not exist in ${store}`);
  }
}

export class StoreWriteError extends Error {
  override readonly name = "StoreWriteError";
  constructor(
    readonly store: string,
    readonly key: string,
    options: { cause: unknown },
  ) {
    super(`writing ${key} to ${store} failed: ${(options.cause as Error)?.message ?? String(options.cause)}`, options);
  }
}

/** Keys are relative, slash-separated, without "." or ".." segments. */
export function checkKey(key: string): string {
  if (key === "" || key.startsWith("/") || key.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw new Error(`invalid object key "${key}"`);
  }
  return key;
}
