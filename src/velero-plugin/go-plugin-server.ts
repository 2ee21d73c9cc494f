// A hashicorp/go-plugin server over gRPC on a unix socket: the part of the protocol that every go-plugin
// host (Velero among them) needs besides the application's own services — health, controller, broker, stdio.
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "../log/logger.js";
import { handshakeLine, type HandshakeDecision } from "./handshake.js";
import { GrpcServer, GrpcStatus, type DuplexCall, type ServerStreamCall, type UnaryCall } from "../grpc/grpc-server.js";
import { Services } from "../grpc/services.js";

export interface GoPluginServerOptions {
  handshake: HandshakeDecision;
  /** Adds the application's services (for twinsnap: Velero's). */
  addServices: (server: GrpcServer) => void;
  log: Logger;
}

export interface RunningGoPlugin {
  readonly socketPath: string;
  /** The line to print on stdout, exactly once, for the host. */
  readonly handshakeLine: string;
  /** Resolves once the server has stopped (Shutdown from the host, or stop()). */
  readonly stopped: Promise<void>;
  stop(reason: string): Promise<void>;
}

/** go-plugin hosts ping this service name. */
const PLUGIN_HEALTH_SERVICE = "plugin";

export async function startGoPluginServer(opts: GoPluginServerOptions): Promise<RunningGoPlugin> {
  const { log } = opts;
  const server = new GrpcServer();
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  const openStreams = new Set<{ end(): void }>();

  // Like go-plugin, the socket lives under a unique name in the host's chosen directory.
  const socketPath = join(opts.handshake.socketDir ?? tmpdir(), `plugin${randomBytes(6).toString("hex")}`);
  let stopping: Promise<void> | undefined;
  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      log.debug("plugin server stopping", { reason });
      for (const call of openStreams) call.end();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      rmSync(socketPath, { force: true });
      resolveStopped();
    })();
    return stopping;
  };

  server.addService(Services.Health, {
    Check: (call: UnaryCall<{ service: string }>, cb: (err: { code: typeof GrpcStatus.NOT_FOUND; details: string } | null, res?: unknown) => void) => {
      const service = call.request.service;
      if (service === "" || service === PLUGIN_HEALTH_SERVICE) cb(null, { status: "SERVING" });
      else cb({ code: GrpcStatus.NOT_FOUND, details: `unknown service "${service}"` });
    },
    Watch: (call: ServerStreamCall<{ service: string }, unknown>) => {
      openStreams.add(call);
      call.on("cancelled", () => openStreams.delete(call));
      call.write({ status: call.request.service === "" || call.request.service === PLUGIN_HEALTH_SERVICE ? "SERVING" : "SERVICE_UNKNOWN" });
    },
  });

  server.addService(Services.GRPCController, {
    Shutdown: (_call: UnaryCall<unknown>, cb: (err: null, res: unknown) => void) => {
      cb(null, {});
      // Reply first, then stop: the host waits for the process to exit after this call returns.
      setImmediate(() => void stop("shutdown requested by the host"));
    },
  });

  // twinsnap brokers no extra connections; the stream stays open for the host's broker loop and
  // refuses any knock so a host that tries to dial a brokered service gets an answer, not a hang.
  server.addService(Services.GRPCBroker, {
    StartStream: (call: DuplexCall<unknown>) => {
      openStreams.add(call);
      call.on("data", (info: { service_id: number; knock?: { knock: boolean } | null }) => {
        log.debug("broker request refused", { serviceId: info.service_id });
        if (info.knock?.knock) call.write({ service_id: info.service_id, knock: { knock: false, ack: false, error: "twinsnap brokers no services" } });
      });
      call.on("end", () => {
        openStreams.delete(call);
        call.end();
      });
      call.on("cancelled", () => openStreams.delete(call));
    },
  });

  // Logs go to stderr, which go-plugin reads directly; the stdio stream is kept open and stays silent.
  server.addService(Services.GRPCStdio, {
    StreamStdio: (call: ServerStreamCall<unknown, unknown>) => {
      openStreams.add(call);
      call.on("cancelled", () => openStreams.delete(call));
    },
  });

  opts.addServices(server);

  await server.listen(socketPath);
  applySocketGroup(socketPath, opts.handshake.socketGroup, log);

  return { socketPath, handshakeLine: handshakeLine(opts.handshake, socketPath), stopped, stop };
}

/** PLUGIN_UNIX_SOCKET_GROUP: a host running as another user asks for group access to the socket. */
function applySocketGroup(socketPath: string, group: string | undefined, log: Logger): void {
  if (group === undefined) return;
  const gid = Number.parseInt(group, 10);
  if (!Number.isInteger(gid) || String(gid) !== group) {
    log.warn("PLUGIN_UNIX_SOCKET_GROUP must be a numeric group id here; socket group unchanged", { group });
    return;
  }
  chownSync(socketPath, -1, gid);
  chmodSync(socketPath, 0o660);
}
