// Reads every exportable object of a live cluster, page by page: discovery says what can be listed, the
// selection rules leave out what the target cluster makes itself, and each object arrives one at a time.
import type { KubeObject } from "../manifest/object.js";
import { NEVER_EXPORTED_RESOURCES } from "../manifest/export-selection.js";
import type { ResourceFilter } from "../manifest/resource-filter.js";
import { Discovery, objectPath, type ApiResource } from "./discovery.js";
import type { RawClient } from "./raw-client.js";

export interface LiveItem {
  groupResource: string;
  object: KubeObject;
}

interface ListPage {
  apiVersion: string;
  kind: string;
  items: KubeObject[];
  metadata?: { continue?: string };
}

export function groupResourceOf(r: Pick<ApiResource, "group" | "resource">): string {
  return r.group === "" ? r.resource : `${r.resource}.${r.group}`;
}

export async function* listLiveObjects(client: RawClient, filter: ResourceFilter, opts: { pageSize?: number } = {}): AsyncGenerator<LiveItem> {
  const discovery = new Discovery(client);
  const resources = (await discovery.all())
    .filter((r) => r.verbs.includes("list") && r.verbs.includes("get"))
    .filter((r) => !NEVER_EXPORTED_RESOURCES.has(groupResourceOf(r)))
    .sort((a, b) => (groupResourceOf(a) < groupResourceOf(b) ? -1 : 1));
  for (const r of resources) {
    const gr = groupResourceOf(r);
    if (!filter.includesResource(gr)) continue;
    let token: string | undefined;
    do {
      const query = new URLSearchParams({ limit: String(opts.pageSize ?? 500), ...(token ? { continue: token } : {}) });
      const page = await client.get<ListPage>(`${objectPath(r, "")}?${query}`);
      if (!page) break; // the resource went away while we listed (a CRD deleted): nothing to export
      for (const item of page.items) {
        // List items come without kind and apiVersion; the list itself says what they are.
        const object = { ...item, apiVersion: page.apiVersion, kind: r.kind } as KubeObject;
        if (!filter.includes(gr, object.metadata.namespace ?? "")) continue;
        yield { groupResource: gr, object };
      }
      token = page.metadata?.continue || undefined;
    } while (token);
  }
}
