// The twinsnap executable. Started by Velero (VELERO_PLUGIN in the environment) it is a Velero plugin; started by
// a person it is the command line (cli.ts). This file wires the process to it and turns errors into exit codes.
import { VELERO_HANDSHAKE } from "../velero-plugin/handshake.js";
import { findCommand, isGroup, runCli } from "./cli.js";
import { runPluginMode } from "./plugin-mode.js";
import { EXIT, NotFoundError, UsageError } from "./usage-error.js";

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (env[VELERO_HANDSHAKE.magicCookieKey] !== undefined) return runPluginMode(env, argv);
  // `twinsnap rules | head`: a closed pipe ends the output, it is not an error.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
  try {
    return await runCli(argv, { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s), env, stdin: readStdin, interactive: process.stderr.isTTY === true });
  } catch (e) {
    if (e instanceof UsageError) {
      const named = findCommand(argv)?.command.path.join(" ") ?? (argv[0] !== undefined && isGroup(argv[0]) ? argv[0] : undefined);
      process.stderr.write(`twinsnap: ${e.message}\nRun "twinsnap ${named ? `${named} ` : ""}--help" for usage.\n`);
      return EXIT.usage;
    }
    if (e instanceof NotFoundError) {
      process.stderr.write(`twinsnap: ${e.message}\n`);
      return EXIT.notFound;
    }
    process.stderr.write(`twinsnap: ${(e as Error).message}\n`);
    return EXIT.failed;
  }
}

main(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`twinsnap: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
