// Velero's Backups as the coordinator follows them, in the manner of client-go's informers: list, then watch from
// the list's resourceVersion; on any break (410 Gone after compaction, a dropped or half-open connection, an
// apiserver restart) list again, backing off from 1 s to 30 s. What each Backup needs is the coordinator's business:
// it gets every list and every event.
import type { RawClient } from "../kube/raw-client.js";
import type { Logger } from "../log/logger.js";
import { veleroPath, type VeleroBackup } from "../velero/velero-api.js";

export interface BackupList {
  items: VeleroBackup[];
  metadata: { resourceVersion: string };
}

interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: VeleroBackup & { code?: number; metadata: { resourceVersion?: string } };
}

export interface BackupInformerOptions {
  client: RawClient;
  veleroNamespace: string;
  log: Logger;
  sleep: (ms: number) => Promise<void>;
  /** The apiserver ends a watch after this long (default 300); the informer lists again. */
  watchTimeoutSeconds?: number;
  /** A watch silent this long (default 150 s; bookmarks come every minute) is a half-open connection: dropped. */
  watchIdleMs?: number;
}

export interface BackupHandlers {
  /** After every list, before the watch starts: reconcile every Backup. Its failure makes the informer list again. */
  listed(list: BackupList): Promise<void>;
  /** A Backup added or changed. */
  changed(backup: VeleroBackup): void;
  /** A Backup deleted. */
  deleted(backup: VeleroBackup): void;
  /** Any sign of life from the apiserver (a list, an event, a bookmark): the liveness the health check reads. */
  progressed(): void;
}

export class BackupInformer {
  constructor(private readonly opts: BackupInformerOptions) {}

  private get path(): string {
    return veleroPath(this.opts.veleroNamespace, "backups");
  }

  async list(): Promise<BackupList> {
    const list = await this.opts.client.get<BackupList>(this.path);
    if (!list) throw new Error(`Velero's Backup resource is not served (are Velero's CRDs installed?)`);
    if (!Array.isArray(list.items) || typeof list.metadata?.resourceVersion !== "string") throw new Error(`the Backup list from the apiserver has no items or resourceVersion`);
    return list;
  }

  /** Lists and watches until the signal aborts. `started` runs after the first successful list. */
  async run(signal: AbortSignal, handlers: BackupHandlers, started?: () => void): Promise<void> {
    let delay = 1000;
    while (!signal.aborted) {
      try {
        const list = await this.list();
        handlers.progressed();
        await handlers.listed(list);
        started?.();
        delay = 1000;
        await this.watch(list.metadata.resourceVersion, signal, handlers);
      } catch (err) {
        if (signal.aborted) break;
        this.opts.log.warn("backup watch interrupted; listing again", { error: (err as Error).message, retryInMs: delay });
        await this.opts.sleep(delay);
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  private async watch(resourceVersion: string, signal: AbortSignal, handlers: BackupHandlers): Promise<void> {
    let rv = resourceVersion;
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 300;
    const query = `${this.path}?watch=1&allowWatchBookmarks=true&timeoutSeconds=${timeoutSeconds}&resourceVersion=${encodeURIComponent(rv)}`;
    for await (const event of this.opts.client.watch<WatchEvent>(query, signal, { idleMs: this.opts.watchIdleMs ?? 150_000 })) {
      handlers.progressed();
      // 410 Gone: our resourceVersion was compacted away; list again.
      if (event.type === "ERROR") throw new Error(`watch error ${event.object.code ?? ""}: ${JSON.stringify(event.object)}`);
      if (event.object.metadata.resourceVersion) rv = event.object.metadata.resourceVersion;
      if (event.type === "ADDED" || event.type === "MODIFIED") handlers.changed(event.object);
      if (event.type === "DELETED") handlers.deleted(event.object);
    }
  }
}
