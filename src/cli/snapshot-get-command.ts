// `twinsnap snapshot get`: objects out of an etcd snapshot, offline, as clean manifests for `twinsnap apply`:
// point-in-time recovery of single objects while the cluster runs.
import { readFile } from "node:fs/promises";
import { parseEncryptionConfig, type LocalKeys } from "../kube-storage/encryption.js";
import { snapshotObjects, type SnapshotObject } from "../kube-storage/snapshot-objects.js";
import { asKubeObject, type KubeObject } from "../manifest/object.js";
import { stripObject } from "../manifest/strip.js";
import { toYaml } from "../manifest/yaml.js";
import { loadRules } from "./load-rules.js";
import { openSnapshot, type SnapshotSourceOptions } from "./snapshot-file.js";
import { UsageError } from "./usage-error.js";

type Io = { out: (s: string) => void; err: (s: string) => void };

export interface SnapshotGetOptions extends SnapshotSourceOptions {
  /** "secrets", "deployments.apps", "Deployment", "widgets.example.com"; absent: every resource (needs a namespace). */
  resource?: string;
  /** "name" or "namespace/name". */
  target?: string;
  namespace?: string;
  output: "yaml" | "json";
  /** Without the export rules: the object as the apiserver would serve it at the snapshot's revision. */
  raw: boolean;
  encryptionConfig?: string;
  rulesFile?: string;
}

export interface ObjectQuery {
  resource?: string;
  namespace?: string;
  name?: string;
}

/** What the command line asks for, checked. */
export function objectQuery(opts: Pick<SnapshotGetOptions, "resource" | "target" | "namespace">): ObjectQuery {
  let namespace = opts.namespace;
  let name: string | undefined;
  if (opts.target) {
    const slash = opts.target.indexOf("/");
    if (slash >= 0) {
      const ns = opts.target.slice(0, slash);
      if (namespace && ns && namespace !== ns) throw new UsageError(`"${opts.target}" names namespace ${ns} but -n says ${namespace}`);
      namespace = ns || namespace;
      name = opts.target.slice(slash + 1) || undefined;
    } else name = opts.target;
  }
  if (!opts.resource && !namespace) throw new UsageError("snapshot get needs a RESOURCE, or a namespace (-n NAMESPACE) to get everything in it");
  return { ...(opts.resource ? { resource: opts.resource.toLowerCase() } : {}), ...(namespace ? { namespace } : {}), ...(name ? { name } : {}) };
}

/** Whether a snapshot object is what the query names: resource by plural, group-qualified plural, kind or singular. */
export function matches(obj: SnapshotObject, q: ObjectQuery): boolean {
  if (q.name !== undefined && obj.name !== q.name) return false;
  if (q.namespace !== undefined && obj.namespace !== q.namespace) return false;
  if (q.resource === undefined) return true;
  const r = q.resource;
  if (r === obj.resource || r === obj.groupResource) return true;
  if (`${r}s` === obj.resource || `${r}es` === obj.resource || (r.endsWith("y") && `${r.slice(0, -1)}ies` === obj.resource)) return true;
  const kind = obj.value.state === "object" ? obj.value.object.kind.toLowerCase() : undefined;
  return kind !== undefined && (r === kind || (obj.group !== "" && r === `${kind}.${obj.group}`));
}

export async function snapshotGetCommand(opts: SnapshotGetOptions, io: Io): Promise<number> {
  const query = objectQuery(opts);
  const keys: LocalKeys | undefined = opts.encryptionConfig ? parseEncryptionConfig(await readFile(opts.encryptionConfig, "utf8"), opts.encryptionConfig) : undefined;
  const rules = opts.raw ? undefined : await loadRules(opts.rulesFile);
  const snapshot = await openSnapshot(opts);
  const found: KubeObject[] = [];
  let problems = 0;
  try {
    for await (const item of snapshotObjects(snapshot.reader, keys ? { keys } : {})) {
      if ("internal" in item || !matches(item, query)) continue;
      const where = `${item.groupResource} ${item.namespace ? `${item.namespace}/` : ""}${item.name}`;
      if (item.value.state === "encrypted") {
        problems++;
        const v = item.value;
        io.err(
          v.provider === "kms"
            ? `${where}: encrypted at rest by KMS ${v.version} provider "${v.keyName}"; twinsnap cannot decrypt KMS values offline\n`
            : `${where}: encrypted at rest (${v.provider} key "${v.keyName}"); give --encryption-config FILE holding that key\n`,
        );
        continue;
      }
      if (item.value.state === "undecodable") {
        problems++;
        io.err(`${where}: cannot be decoded: ${item.value.reason}\n`);
        continue;
      }
      // The apiserver serves the etcd modification revision as resourceVersion.
      const object = asKubeObject({ ...item.value.object, metadata: { ...item.value.object.metadata, resourceVersion: String(item.modRevision) } });
      if (!rules) {
        found.push(object);
        continue;
      }
      const result = stripObject(object, rules.strip, { stage: "export" });
      if (result.skippedBy) {
        io.err(`${where}: left out by the export rules (${result.skippedBy}); --raw gives it as stored\n`);
        continue;
      }
      found.push(result.object);
    }
  } finally {
    await snapshot.close();
  }
  if (found.length === 0 && problems === 0) {
    const what = [query.resource ?? "objects", query.namespace ? `in namespace ${query.namespace}` : "", query.name ? `named ${query.name}` : ""].filter(Boolean).join(" ");
    io.err(`no ${what} in ${snapshot.source}\n`);
    return 1;
  }
  if (opts.output === "json") io.out(`${JSON.stringify(found.length === 1 && query.name ? found[0] : { apiVersion: "v1", kind: "List", items: found }, null, 2)}\n`);
  else io.out(found.map(toYaml).join("---\n"));
  io.err(`${found.length} object(s) from ${snapshot.source}${problems ? `; ${problems} could not be read (above)` : ""}\n`);
  return problems > 0 ? 1 : 0;
}
