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
  /**
   * Removes what writers killed mid-put left behind (partial files older than the bound a live write never
   * reaches), store-wide. Stores without such leftovers (S3: an upload is no object) do not have it.
   */
  removeAbandonedPartials?(): Promise<string[]>;
  /** Bytes a put can still use, where the store can tell (a filesystem); undefined when it cannot. */
  freeBytes?(): Promise<number | undefined>;
  /**
   * Writes a small object only if no object has the key, atomically (two callers: exactly one wins); false when
   * one exists. For locks. Stores that cannot do it atomically leave it out.
   */
  createIfAbsent?(key: string, content: string): Promise<boolean>;
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
  /** A retry may succeed (network, 5xx, throttling); retry logic reads this. */
  readonly recoverable: boolean;
  constructor(
    readonly store: string,
    readonly key: string,
    options: { cause: unknown; recoverable?: boolean; detail?: string },
  ) {
    super(`writing ${key} to ${store} failed: ${(options.cause as Error)?.message ?? String(options.cause)}${options.detail ? ` (${options.detail})` : ""}`, { cause: options.cause });
    this.recoverable = options.recoverable ?? false;
  }
}

/** Reading, listing or deleting failed for another reason than a missing object. */
export class StoreAccessError extends Error {
  override readonly name = "StoreAccessError";
  constructor(
    readonly store: string,
    /** "GET snapshots/x.db.gz", "LIST pairs/" */
    readonly operation: string,
    readonly recoverable: boolean,
    options: { cause: unknown },
  ) {
    super(`${operation} on ${store} failed: ${(options.cause as Error)?.message ?? String(options.cause)}`, options);
  }
}

/** Keys are relative, slash-separated, without "." or ".." segments. */
export function checkKey(key: string): string {
  if (key === "" || key.startsWith("/") || key.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw new Error(`invalid object key "${key}"`);
  }
  return key;
}
