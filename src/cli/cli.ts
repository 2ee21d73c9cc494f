// The command line: a table of commands (src/cli/commands/, each with its flags, help and run function). This
// file only finds the command the words name, or the help asked for.
import { NotStartedByVeleroError } from "../velero-plugin/handshake.js";
import { VERSION } from "../version.js";
import { asksForHelp, commandHelp, EXIT_CODES_LINE, parseCommandArgs, type Command, type CommandIo } from "./command.js";
import { apply } from "./commands/apply.js";
import { coordinator } from "./commands/coordinator.js";
import { doctor } from "./commands/doctor.js";
import { etcdRestore } from "./commands/etcd-restore.js";
import { etcdSnapshot } from "./commands/etcd-snapshot.js";
import { exportManifests } from "./commands/export.js";
import { pairsDiff, pairsList, pairsShow, pairsVerify } from "./commands/pairs.js";
import { restorePlan, restoreRun } from "./commands/restore.js";
import { rules } from "./commands/rules.js";
import { snapshotGet } from "./commands/snapshot-get.js";
import { strip } from "./commands/strip.js";
import { version } from "./commands/version.js";
import { EXIT, UsageError } from "./usage-error.js";

/** In the order `twinsnap --help` lists them: the daily work first, recovery, then the tools around it. */
export const COMMANDS: readonly Command[] = [
  exportManifests,
  apply,
  strip,
  etcdSnapshot,
  etcdRestore,
  coordinator,
  pairsList,
  pairsShow,
  pairsVerify,
  pairsDiff,
  snapshotGet,
  restorePlan,
  restoreRun,
  doctor,
  rules,
  version,
] as Command[];

const GROUPS = [...new Set(COMMANDS.filter((c) => c.path.length > 1).map((c) => c.path[0]!))];

export function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.path.join(" ").length)) + 2;
  return `twinsnap ${VERSION}: Kubernetes disaster recovery with Velero and etcd snapshots

Usage:
  twinsnap COMMAND [flags]          twinsnap COMMAND --help (or twinsnap help COMMAND) for its flags

Commands:
${COMMANDS.map((c) => `  ${c.path.join(" ").padEnd(width)}${c.summary}`).join("\n")}

Durations are Go durations (30s, 2m, 1h30m). -o text|json|yaml chooses how a command reports, where it offers more
than one form. --kubeconfig FILE and --context NAME choose the cluster as kubectl does (HTTPS_PROXY/NO_PROXY and
proxy-url too).
${EXIT_CODES_LINE}

--store URL: file:///path, s3://bucket/prefix[?region=R&endpoint=URL&forcePathStyle=true&profile=P], or bsl:NAME
(Velero's BackupStorageLocation NAME, read through --kubeconfig in --velero-namespace; written under
<prefix>/plugins/twinsnap/). S3 credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_SHARED_CREDENTIALS_FILE.

As a Velero plugin, twinsnap is started by the Velero server (see the README: "Install").
`;
}

function groupHelp(group: string): string {
  const members = COMMANDS.filter((c) => c.path[0] === group);
  const width = Math.max(...members.map((c) => c.path.join(" ").length)) + 2;
  return `Usage: twinsnap ${group} ${members.map((c) => c.path[1]).join("|")} [flags]\n\n${members.map((c) => `  twinsnap ${c.path.join(" ").padEnd(width)}${c.summary}`).join("\n")}\n\nRun "twinsnap ${group} COMMAND --help" for a command's flags.\n`;
}

export const isGroup = (word: string): boolean => GROUPS.includes(word);

/** The command the words name, and the arguments after them. */
export function findCommand(words: readonly string[]): { command: Command; rest: string[] } | undefined {
  for (const c of COMMANDS) if (c.path.every((w, i) => words[i] === w)) return { command: c, rest: words.slice(c.path.length) };
  return undefined;
}

/** `twinsnap help [WORDS...]`: a command's help, a group's, or the overview. */
function help(words: readonly string[], io: CommandIo): number {
  if (words.length === 0) return void io.out(overview()), EXIT.ok;
  const found = findCommand(words);
  if (found && found.rest.length === 0) return void io.out(commandHelp(found.command, io.env)), EXIT.ok;
  if (words.length === 1 && GROUPS.includes(words[0]!)) return void io.out(groupHelp(words[0]!)), EXIT.ok;
  throw new UsageError(`no command "${words.join(" ")}"`);
}

export async function runCli(argv: string[], io: CommandIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "help") return help(rest, io);
  if (first === "--help" || first === "-h") return help([], io);
  if (first === "--version" || first === "-v") return version.run(parseCommandArgs(version, rest, io.env), io);
  const found = findCommand(argv);
  if (found) {
    if (asksForHelp(found.rest)) return help(found.command.path, io);
    return found.command.run(parseCommandArgs(found.command, found.rest, io.env), io);
  }
  if (first !== undefined && GROUPS.includes(first)) {
    if (rest.length === 0 || asksForHelp(rest.slice(0, 1))) {
      if (rest.length > 0) return help([first], io);
      throw new UsageError(`${first} needs a subcommand: ${COMMANDS.filter((c) => c.path[0] === first).map((c) => `"${c.path[1]}"`).join(", ")}`);
    }
    throw new UsageError(`${first} has no subcommand "${rest[0]}": ${COMMANDS.filter((c) => c.path[0] === first).map((c) => `"${c.path[1]}"`).join(", ")}`);
  }
  if (first === undefined || first.startsWith("-")) {
    // Most likely started by hand where Velero would start it (with Velero's own server flags): say what this is.
    io.err(`${new NotStartedByVeleroError().message}\n\n${overview()}`);
    return EXIT.failed;
  }
  throw new UsageError(`unknown command "${first}"`);
}
