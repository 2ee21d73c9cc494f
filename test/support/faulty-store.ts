// A store for fault tests: a real store underneath, with faults injected into snapshot uploads (keys ending in
// .db.zst, .db.gz or .db) at a chosen byte — an upload held at that point until the test lets it go (so the test knows for
// certain that a snapshot is streaming), or failing there as a full disk does.
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ObjectStore, PutResult } from "../../src/store/object-store.js";

export interface FaultOptions {
  /** Hold each snapshot upload once this many bytes have reached the store, until release(). */
  holdAfterBytes?: number;
  /** Fail snapshot uploads once this many bytes have reached the store... */
  failAfterBytes?: number;
  /** ...for this many uploads (default: all). */
  failingUploads?: number;
}

export class FaultyStore implements ObjectStore {
  /** Snapshot uploads started, failed or not. */
  snapshotUploads = 0;
  /** Resolves once an upload is held at holdAfterBytes. */
  readonly held: Promise<void>;
  private markHeld!: () => void;
  private releaseHold!: () => void;
  private readonly released: Promise<void>;

  constructor(
    readonly inner: ObjectStore,
    private readonly faults: FaultOptions,
  ) {
    this.held = new Promise((r) => (this.markHeld = r));
    this.released = new Promise((r) => (this.releaseHold = r));
  }

  get url(): string {
    return this.inner.url;
  }

  release(): void {
    this.releaseHold();
  }

  put(key: string, body: Readable): Promise<PutResult> {
    if (!/\.db(\.zst|\.gz)?$/.test(key)) return this.inner.put(key, body);
    const upload = ++this.snapshotUploads;
    const { holdAfterBytes, failAfterBytes, failingUploads } = this.faults;
    const failing = failAfterBytes !== undefined && upload <= (failingUploads ?? Infinity);
    let bytes = 0;
    const fault = new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        bytes += chunk.length;
        if (failing && bytes > failAfterBytes) return done(new Error(`ENOSPC: no space left on device (injected after ${failAfterBytes} bytes)`));
        if (holdAfterBytes !== undefined && bytes > holdAfterBytes) {
          this.markHeld();
          return void this.released.then(() => done(null, chunk));
        }
        done(null, chunk);
      },
    });
    // As a store's own pipeline would: a failure here destroys the body too.
    pipeline(body, fault).catch(() => undefined);
    return this.inner.put(key, fault);
  }

  get(key: string): Promise<Readable> {
    return this.inner.get(key);
  }
  head(key: string): Promise<{ size: number } | undefined> {
    return this.inner.head(key);
  }
  list(prefix: string): Promise<string[]> {
    return this.inner.list(prefix);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
}
