// Discovery: which resource serves a kind, whether it is namespaced, at which preferred version — cached for
// the life of the process (one Velero backup or restore, one CLI command).
import type { RawClient } from "./raw-client.js";

export interface ApiResource {
  group: string;
  version: string;
  /** Plural resource name, e.g. "deployments". */
  resource: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
}

interface ResourceList {
  resources: { name: string; kind: string; namespaced: boolean; verbs: string[] }[];
}
interface GroupList {
  groups: { name: string; preferredVersion: { version: string } }[];
}

export class Discovery {
  private groups?: Promise<Map<string, string>>;
  private readonly lists = new Map<string, Promise<ApiResource[]>>();

  constructor(private readonly client: RawClient) {}

  /** The preferred version of each group ("" is the core group, v1). */
  preferredVersions(): Promise<Map<string, string>> {
    this.groups ??= this.client.get<GroupList>("/apis").then((list) => {
      const out = new Map<string, string>([["", "v1"]]);
      for (const g of list?.groups ?? []) out.set(g.name, g.preferredVersion.version);
      return out;
    });
    return this.groups;
  }

  /** Top-level resources (no subresources) of a group at its preferred version. */
  async resources(group: string): Promise<ApiResource[]> {
    const version = (await this.preferredVersions()).get(group);
    if (!version) return [];
    const key = `${group}/${version}`;
    let list = this.lists.get(key);
    if (!list) {
      const path = group === "" ? "/api/v1" : `/apis/${group}/${version}`;
      list = this.client.get<ResourceList>(path).then((l) =>
        (l?.resources ?? [])
          .filter((r) => !r.name.includes("/"))
          .map((r) => ({ group, version, resource: r.name, kind: r.kind, namespaced: r.namespaced, verbs: r.verbs })),
      );
      list.catch(() => this.lists.delete(key)); // a failed lookup is retried next time
      this.lists.set(key, list);
    }
    return list;
  }

  async forKind(group: string, kind: string): Promise<ApiResource | undefined> {
    return (await this.resources(group)).find((r) => r.kind === kind);
  }

  async forResource(group: string, resource: string): Promise<ApiResource | undefined> {
    return (await this.resources(group)).find((r) => r.resource === resource);
  }

  /** Every listable resource of every group, for exports. */
  async all(): Promise<ApiResource[]> {
    const groups = [...(await this.preferredVersions()).keys()];
    return (await Promise.all(groups.map((g) => this.resources(g)))).flat();
  }

  /** Forget cached lists, e.g. after CRDs were created. */
  refresh(): void {
    this.groups = undefined;
    this.lists.clear();
  }
}

/** The path of one object (or of a collection, without name). */
export function objectPath(r: Pick<ApiResource, "group" | "version" | "resource" | "namespaced">, namespace: string, name?: string): string {
  const prefix = r.group === "" ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${prefix}${ns}/${r.resource}${name !== undefined ? `/${encodeURIComponent(name)}` : ""}`;
}
