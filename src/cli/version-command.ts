// `twinsnap version`: what an operator (or a bug report) needs to know about this build — twinsnap's own
// version, the Node runtime it runs on (embedded in the single executable), and the Velero plugin protocol
// versions it speaks, so a mismatch with a Velero release is visible without starting Velero.
import { VELERO_HANDSHAKE } from "../velero-plugin/handshake.js";
import { VERSION } from "../version.js";

export interface VersionReport {
  twinsnap: string;
  node: string;
  /** Whether Node runs as a single executable application (the shipped form) or from a node binary. */
  singleExecutable: boolean;
  velero: {
    goPluginCoreProtocol: number;
    pluginProtocol: number;
    /** The gRPC action services served (every one, whatever the listed kinds). */
    actionApis: string[];
  };
}

export function versionReport(runtime: { node: string; singleExecutable: boolean }): VersionReport {
  return {
    twinsnap: VERSION,
    node: runtime.node,
    singleExecutable: runtime.singleExecutable,
    velero: {
      goPluginCoreProtocol: VELERO_HANDSHAKE.coreProtocolVersion,
      pluginProtocol: VELERO_HANDSHAKE.appProtocolVersion,
      actionApis: ["BackupItemAction v1", "BackupItemAction v2", "RestoreItemAction v1", "RestoreItemAction v2"],
    },
  };
}

export function formatVersionReport(r: VersionReport): string {
  return (
    `twinsnap ${r.twinsnap}\n` +
    `node ${r.node}${r.singleExecutable ? " (embedded)" : ""}\n` +
    `velero plugin API: go-plugin core protocol ${r.velero.goPluginCoreProtocol}, Velero plugin protocol ${r.velero.pluginProtocol}; ` +
    `${r.velero.actionApis.join(", ")}\n`
  );
}
