// Asking a running Velero server, as its CLI does: a ServerStatusRequest (which plugins it loaded) and a
// DownloadRequest (a signed URL for a backup's or restore's log in the storage location). Velero processes both
// within seconds when it runs; no answer means it does not.
import { randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import type { RawClient } from "../kube/raw-client.js";
import { veleroPath, type VeleroResource } from "./velero-api.js";

export class VeleroNotAnsweringError extends Error {
  override readonly name = "VeleroNotAnsweringError";
  constructor(
    readonly request: string,
    readonly namespace: string,
    readonly timeoutMs: number,
  ) {
    super(`Velero did not process a ${request} in namespace ${namespace} within ${Math.round(timeoutMs / 1000)} s: is its server running there (kubectl -n ${namespace} get pods)?`);
  }
}

export interface VeleroRequestOptions {
  client: RawClient;
  namespace: string;
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Downloads a signed URL (default: fetch). */
  download?: (url: string) => Promise<Buffer>;
}

interface Processed {
  status?: { phase?: string; plugins?: { name: string; kind: string }[]; downloadURL?: string };
}


async function processed(opts: VeleroRequestOptions, resource: VeleroResource, kind: string, spec: object): Promise<Processed> {
  const name = `twinsnap-doctor-${randomBytes(4).toString("hex")}`;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const path = veleroPath(opts.namespace, resource);
  await opts.client.send("POST", path, { apiVersion: "velero.io/v1", kind, metadata: { name, namespace: opts.namespace }, spec });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const obj = await opts.client.get<Processed>(`${path}/${name}`);
      if (obj?.status?.phase === "Processed") return obj;
      if (Date.now() > deadline) throw new VeleroNotAnsweringError(kind, opts.namespace, timeoutMs);
      await sleep(500);
    }
  } finally {
    await opts.client.send("DELETE", `${path}/${name}`, undefined).catch(() => undefined);
  }
}

/** The plugins the running Velero server loaded, as `velero plugin get` lists them. */
export async function veleroPlugins(opts: VeleroRequestOptions): Promise<{ name: string; kind: string }[]> {
  return (await processed(opts, "serverstatusrequests", "ServerStatusRequest", {})).status?.plugins ?? [];
}

/** A backup's or restore's log, as `velero backup logs` / `velero restore logs` prints it. */
export async function veleroLog(opts: VeleroRequestOptions, target: { kind: "BackupLog" | "RestoreLog"; name: string }): Promise<string> {
  const url = (await processed(opts, "downloadrequests", "DownloadRequest", { target })).status?.downloadURL;
  if (!url) throw new Error(`Velero has no ${target.kind} for ${target.name} in its storage location`);
  const download =
    opts.download ??
    (async (u: string) => {
      const res = await fetch(u);
      if (!res.ok) throw new Error(`downloading the ${target.kind} of ${target.name}: HTTP ${res.status}`);
      return Buffer.from(await res.arrayBuffer());
    });
  const body = await download(url);
  return (body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body) : body).toString("utf8");
}
