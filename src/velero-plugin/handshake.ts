// go-plugin's handshake, from the plugin's side: check the host's magic cookie, agree on a protocol
// version, and print the one line that tells the host where to connect. Pure: env in, decision out.

/** Velero's handshake: go-plugin core protocol 1, Velero's application protocol 2, cookie VELERO_PLUGIN=hello. */
export const VELERO_HANDSHAKE = {
  coreProtocolVersion: 1,
  appProtocolVersion: 2,
  magicCookieKey: "VELERO_PLUGIN",
  magicCookieValue: "hello",
} as const;

export class NotStartedByVeleroError extends Error {
  override readonly name = "NotStartedByVeleroError";
  constructor() {
    super(
      "twinsnap is running without Velero's plugin handshake.\n" +
        "As a Velero plugin it is started by the Velero server, not by hand: install it with\n" +
        "  velero plugin add <registry>/twinsnap-velero-plugin:<version>\n" +
        "or copy the twinsnap executable into Velero's plugins directory (/plugins in the velero container).\n" +
        "For the command line, run: twinsnap --help",
    );
  }
}

export class ProtocolVersionError extends Error {
  override readonly name = "ProtocolVersionError";
  constructor(readonly offered: string) {
    super(
      `the host offered plugin protocol versions "${offered}", but twinsnap speaks Velero's version ` +
        `${VELERO_HANDSHAKE.appProtocolVersion}: upgrade Velero or use a matching twinsnap release`,
    );
  }
}

export interface HandshakeDecision {
  appProtocolVersion: number;
  /** Where to create the socket: PLUGIN_UNIX_SOCKET_DIR, else the system temp dir. */
  socketDir: string | undefined;
  /** Group that should own the socket (PLUGIN_UNIX_SOCKET_GROUP), if the host asked. */
  socketGroup: string | undefined;
  /** The host asked about gRPC broker multiplexing (PLUGIN_MULTIPLEX_GRPC); twinsnap answers that it does not multiplex. */
  multiplexAsked: boolean;
}

export function negotiateHandshake(env: Readonly<Record<string, string | undefined>>): HandshakeDecision {
  if (env[VELERO_HANDSHAKE.magicCookieKey] !== VELERO_HANDSHAKE.magicCookieValue) throw new NotStartedByVeleroError();
  const offered = env.PLUGIN_PROTOCOL_VERSIONS;
  if (offered !== undefined && offered.trim() !== "") {
    const versions = offered.split(",").map((v) => Number.parseInt(v.trim(), 10));
    if (!versions.includes(VELERO_HANDSHAKE.appProtocolVersion)) throw new ProtocolVersionError(offered);
  }
  return {
    appProtocolVersion: VELERO_HANDSHAKE.appProtocolVersion,
    socketDir: nonEmpty(env.PLUGIN_UNIX_SOCKET_DIR),
    socketGroup: nonEmpty(env.PLUGIN_UNIX_SOCKET_GROUP),
    multiplexAsked: nonEmpty(env.PLUGIN_MULTIPLEX_GRPC) !== undefined,
  };
}

/**
 * CORE|APP|NETWORK|ADDRESS|PROTOCOL|SERVER-CERT[|MULTIPLEX]. The certificate field stays empty (Velero does not
 * use AutoMTLS); the seventh field is only sent to a host that asked, because older hosts split on six.
 */
export function handshakeLine(decision: HandshakeDecision, socketPath: string): string {
  const fields = [VELERO_HANDSHAKE.coreProtocolVersion, decision.appProtocolVersion, "unix", socketPath, "grpc", ""];
  if (decision.multiplexAsked) fields.push("false");
  return fields.join("|");
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
