// The processes a Velero server started (its plugins), read from /proc: Linux only, as the test peers are.
import { readdirSync, readFileSync } from "node:fs";

export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** argv as the process was started. */
  argv: string[];
}

function readProcess(pid: number): ProcessInfo | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses, so split after the last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "");
    return { pid, ppid: Number(fields[1]), argv };
  } catch {
    return undefined; // gone while we looked
  }
}

/** Every live process whose parent is `ppid`. */
export function childProcesses(ppid: number): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const info = readProcess(Number(entry));
    if (info && info.ppid === ppid && info.argv.length > 0) out.push(info);
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return readProcess(pid) !== undefined && !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}

/** argv of a live process, or [] if it is gone. */
export function processArgv(pid: number): string[] {
  return readProcess(pid)?.argv ?? [];
}
