// The layout holds: folders import only folders below them, and no module imports itself around a cycle. Read from
// the sources, so a new import that runs upward fails here, not in a review.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative, sep } from "node:path";
import { REPO_ROOT } from "../support/fixtures.js";

/**
 * Top to bottom. kube sits above actions because it implements the ports the actions declare (ClusterView,
 * ObjectWriter, PluginConfigReader): the actions never see a client.
 */
const ORDER = ["cli", "coordinator", "recovery", "pairs", "velero", "velero-plugin", "kube", "actions", "kube-storage", "etcd", "store", "grpc", "generated", "log", "manifest", "version.ts", "recoverable.ts"];

const SRC = join(REPO_ROOT, "src");

function sources(): string[] {
  return readdirSync(SRC, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => relative(SRC, join(e.parentPath, e.name)).split(sep).join("/"));
}

/** Relative imports of a source file, as paths under src/ (x.ts). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), "utf8");
  return [...text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)\.js"/g)].map((m) => normalize(join(dirname(file), `${m[1]}.ts`)).split(sep).join("/"));
}

const folderOf = (file: string) => file.split("/")[0]!;

describe("the source layout", () => {
  const files = sources();

  it("every folder under src/ has its place in the order", () => {
    assert.deepEqual([...new Set(files.map(folderOf))].filter((f) => !ORDER.includes(f)), []);
  });

  it("imports run down the order, never up", () => {
    // Generated data (src/generated/) names the types of the folder that reads it; that is not a dependency.
    const upward = files.filter((f) => folderOf(f) !== "generated").flatMap((f) =>
      importsOf(f)
        .filter((t) => ORDER.indexOf(folderOf(t)) < ORDER.indexOf(folderOf(f)))
        .map((t) => `${f} -> ${t}`),
    );
    assert.deepEqual(upward, []);
  });

  it("no cycles between modules", () => {
    const graph = new Map(files.map((f) => [f, importsOf(f)]));
    const done = new Set<string>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]) => {
      if (path.includes(f)) return void cycles.push([...path.slice(path.indexOf(f)), f].join(" -> "));
      if (done.has(f)) return;
      for (const t of graph.get(f) ?? []) visit(t, [...path, f]);
      done.add(f);
    };
    for (const f of files) visit(f, []);
    assert.deepEqual(cycles, []);
  });
});
