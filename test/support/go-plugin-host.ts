// A go-plugin host for tests: starts a plugin executable exactly as Velero's go-plugin client does
// (environment, Velero's server flags, handshake line on stdout, unix socket, broker and stdio streams,
// health ping), then gives typed access to Velero's services. Used by the conformance tests and the bench.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import { UNLIMITED_MESSAGES, Wire } from "./wire-clients.js";

export interface HostOptions {
  /** The command Velero would run (the file in its plugins directory). */
  command: string;
  args?: string[];
  env?: Record<string, string>;
  /** Like go-plugin's StartTimeout: how long to wait for the handshake line. */
  startTimeoutMs?: number;
  /**
   * The plugin runs chrooted in this directory: its socket directory is created inside, passed to it as a path
   * within the chroot, and the address it announces is read relative to this root.
   */
  chrootDir?: string;
}

export interface Handshake {
  core: string;
  app: string;
  network: string;
  address: string;
  protocol: string;
  rest: string[];
  line: string;
}

/** Velero's server passes these to every plugin (pkg/plugin/clientmgmt/process/client_builder.go). */
export const VELERO_PLUGIN_ARGS = ["--log-level", "info", "--features=", "--uploader-type=kopia"];

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export class PluginHost {
  readonly stdoutExtra: string[] = [];
  private clients: grpc.Client[] = [];
  private streams: grpc.ClientDuplexStream<unknown, unknown>[] = [];
  private exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly child: ChildProcess,
    readonly handshake: Handshake,
    readonly socketDir: string,
    readonly startMs: number,
    /** The plugin's stderr, line by line (its logs), as it arrives. */
    readonly stderrLines: string[],
  ) {
    this.exit = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  }

  static async start(opts: HostOptions): Promise<PluginHost> {
    const socketDir = mkdtempSync(opts.chrootDir ? join(opts.chrootDir, "tmp", "host-") : join(tmpdir(), "twinsnap-host-"));
    const pluginSocketDir = opts.chrootDir ? socketDir.slice(opts.chrootDir.length) : socketDir;
    const began = process.hrtime.bigint();
    const child = spawn(opts.command, opts.args ?? VELERO_PLUGIN_ARGS, {
      env: {
        ...process.env,
        VELERO_PLUGIN: "hello",
        PLUGIN_MIN_PORT: "10000",
        PLUGIN_MAX_PORT: "25000",
        PLUGIN_PROTOCOL_VERSIONS: "2",
        PLUGIN_UNIX_SOCKET_DIR: pluginSocketDir,
        ...opts.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const stderrLines: string[] = [];
    createInterface({ input: child.stderr! }).on("line", (l) => stderrLines.push(l));
    const stdout = createInterface({ input: child.stdout! });
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no handshake within ${opts.startTimeoutMs ?? 20000} ms; stderr:\n${stderrLines.join("\n")}`)), opts.startTimeoutMs ?? 20000);
      stdout.once("line", (l) => {
        clearTimeout(timer);
        resolve(l);
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`plugin exited with ${code} before its handshake; stderr:\n${stderrLines.join("\n")}`));
      });
    });
    const startMs = Number(process.hrtime.bigint() - began) / 1e6;
    const [core = "", app = "", network = "", announced = "", protocol = "", ...rest] = line.split("|");
    const address = opts.chrootDir ? join(opts.chrootDir, announced) : announced;
    const host = new PluginHost(child, { core, app, network, address, protocol, rest, line }, socketDir, startMs, stderrLines);
    stdout.on("line", (l) => host.stdoutExtra.push(l));
    host.openHostStreams();
    return host;
  }

  /** What go-plugin's client opens on every connection: the broker stream and the stdio stream. */
  private openHostStreams(): void {
    const broker = this.client("GRPCBroker");
    const stream = broker.StartStream!() as grpc.ClientDuplexStream<unknown, unknown>;
    stream.on("error", () => undefined);
    this.streams.push(stream);
    const stdio = this.client("GRPCStdio");
    const out = stdio.StreamStdio!({}) as grpc.ClientReadableStream<unknown>;
    out.on("error", () => undefined);
  }

  client(service: keyof typeof Wire): Client {
    const Ctor = Wire[service];
    const c = new Ctor(`unix://${this.handshake.address}`, grpc.credentials.createInsecure(), UNLIMITED_MESSAGES) as Client;
    this.clients.push(c);
    return c;
  }

  /** Calls a unary method and resolves with its reply, or rejects with the grpc ServiceError. */
  call<T = Record<string, unknown>>(service: keyof typeof Wire, method: string, request: unknown): Promise<T> {
    const c = this.client(service);
    return new Promise<T>((resolve, reject) => {
      c[method]!(request, (err: grpc.ServiceError | null, reply: T) => (err ? reject(err) : resolve(reply)));
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exit;
  }

  /** go-plugin's Kill: Shutdown through the controller, then wait for the process (it kills after 2 s). */
  async shutdown(): Promise<{ code: number | null; signal: NodeJS.Signals | null; graceful: boolean }> {
    await this.call("GRPCController", "Shutdown", {}).catch(() => undefined);
    const graceful = await Promise.race([this.exit.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2000).unref())]);
    if (!graceful) this.child.kill("SIGKILL");
    const result = await this.exit;
    this.close();
    return { ...result, graceful };
  }

  close(): void {
    for (const s of this.streams) s.cancel();
    for (const c of this.clients) c.close();
    this.clients = [];
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    rmSync(this.socketDir, { recursive: true, force: true });
  }
}

/** JSON bytes, as Velero sends items. */
export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
