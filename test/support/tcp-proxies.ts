// Loopback proxies for fault tests. `stallingProxy` forwards TCP to a target until the test stalls it: then it
// stops forwarding in both directions and keeps every connection open (a half-open path: nothing arrives,
// nothing fails). `connectProxy` is an HTTP CONNECT proxy (what HTTPS_PROXY / a kubeconfig's proxy-url name),
// counting the tunnels it opened.
import http from "node:http";
import net from "node:net";

export interface StallingProxy {
  /** host:port to connect to instead of the target. */
  host: string;
  port: number;
  stall(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function stallingProxy(target: { host: string; port: number }, listenHost = "127.0.0.1"): Promise<StallingProxy> {
  let stalled = false;
  const pairs = new Set<{ a: net.Socket; b: net.Socket }>();
  const forward = (from: net.Socket, to: net.Socket) =>
    from.on("data", (chunk: Buffer) => {
      if (!stalled) to.write(chunk); // stalled: dropped, as a path that went dead loses what is sent into it
    });
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    const pair = { a: client, b: upstream };
    pairs.add(pair);
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, listenHost, resolve));
  return {
    host: listenHost,
    port: (server.address() as net.AddressInfo).port,
    stall: () => void (stalled = true),
    resume: () => void (stalled = false),
    close: async () => {
      for (const p of pairs) (p.a.destroy(), p.b.destroy());
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface ConnectProxy {
  url: string;
  /** "host:port" of every CONNECT it served. */
  tunnels: string[];
  close(): Promise<void>;
}

export async function connectProxy(): Promise<ConnectProxy> {
  const tunnels: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => res.writeHead(405).end("CONNECT only\n"));
  server.on("connect", (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const target = req.url ?? "";
    const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(target);
    // Loopback only: a test proxy must never open a connection off this machine.
    if (!m || !(m[1]!.startsWith("127.") || m[1] === "::1" || m[1] === "localhost")) {
      client.end("HTTP/1.1 403 Forbidden\r\n\r\n");
      return;
    }
    tunnels.push(target);
    const upstream = net.connect(Number(m[2]), m[1]!, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(client).add(upstream);
    const end = () => (client.destroy(), upstream.destroy());
    upstream.on("error", end);
    client.on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    tunnels,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
