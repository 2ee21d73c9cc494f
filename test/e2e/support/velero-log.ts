// Velero's logs (`velero backup logs`, `velero restore logs`, the server log) in logrus text format:
//   time="..." level=info msg="Attempting to restore Widget: blue." logSource="pkg/restore/restore.go:1506" namespace=shop ...
// Plugin stderr arrives in them too, relayed by go-plugin with the plugin's command in `cmd`.

export interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, string>;
  raw: string;
}

const FIELD = /([A-Za-z_][\w.\- ]*?)=("(?:[^"\\]|\\.)*"|\S*)/g;

export function parseLog(text: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const raw of text.split("\n")) {
    if (!raw.includes("level=")) continue;
    const fields: Record<string, string> = {};
    for (const m of raw.matchAll(FIELD)) {
      const key = m[1]!.trim();
      const value = m[2]!;
      fields[key] = value.startsWith('"') ? (JSON.parse(value) as string) : value;
    }
    lines.push({ level: fields.level ?? "", msg: fields.msg ?? "", fields, raw });
  }
  return lines;
}

/** Lines twinsnap wrote (relayed from its stderr). */
export function twinsnapLines(lines: readonly LogLine[]): LogLine[] {
  return lines.filter((l) => /\/twinsnap$/.test(l.fields.cmd ?? "") || /twinsnap/.test(l.fields.pluginName ?? ""));
}

export interface RestoredItem {
  kind: string;
  namespace: string;
  name: string;
}

/** The items in the order Velero created them: its "Attempting to restore <Kind>: <name>." lines. */
export function restoreSequence(lines: readonly LogLine[]): RestoredItem[] {
  const out: RestoredItem[] = [];
  for (const l of lines) {
    const m = /^Attempting to restore (\S+): (.+)\.$/.exec(l.msg);
    if (m) out.push({ kind: m[1]!, name: m[2]!, namespace: l.fields.namespace ?? "" });
  }
  return out;
}

/** Index of an item in a restore sequence; -1 if absent. */
export function positionOf(seq: readonly RestoredItem[], kind: string, name: string, namespace = ""): number {
  return seq.findIndex((i) => i.kind === kind && i.name === name && i.namespace === namespace);
}
