// Where this cluster's apiservers really listen, for the pair record: the addresses the apiservers publish in
// the `kubernetes` Endpoints of the default namespace (not the Service's ClusterIP, which only routes from inside
// the cluster: probing it from elsewhere would time out whether the control plane is lost or not).
import { isIP } from "node:net";
import type { RawClient } from "./raw-client.js";

interface Endpoints {
  subsets?: { addresses?: { ip?: string }[]; ports?: { name?: string; port?: number }[] }[];
}

/**
 * The apiservers' URLs; when they cannot be read, `server` (the URL the client uses) unless it is the in-cluster
 * Service address, which proves nothing from outside. Empty when nothing trustworthy is known.
 */
export async function apiserverEndpoints(client: RawClient, server: string, opts: { inCluster: boolean }): Promise<string[]> {
  try {
    const ep = await client.get<Endpoints>("/api/v1/namespaces/default/endpoints/kubernetes", { deadlineMs: 10_000 });
    const urls = (ep?.subsets ?? []).flatMap((s) => {
      const port = (s.ports ?? []).find((p) => p.name === "https")?.port ?? s.ports?.[0]?.port;
      return port === undefined ? [] : (s.addresses ?? []).flatMap((a) => (a.ip ? [`https://${isIP(a.ip) === 6 ? `[${a.ip}]` : a.ip}:${port}`] : []));
    });
    if (urls.length > 0) return [...new Set(urls)].sort();
  } catch {
    // Not readable (RBAC, an old chart): fall back below.
  }
  return opts.inCluster ? [] : [server];
}
