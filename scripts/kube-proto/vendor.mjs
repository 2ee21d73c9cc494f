// Vendors the protobuf definitions of the Kubernetes API (the modules pinned in ./go.mod, fetched from the Go module
// proxy by `go mod download`) into proto-kube/, with what the .proto files do not say and the apiserver's JSON needs:
// each field's JSON name, omitempty/omitzero and pointer-ness (from the Go struct tags), which messages are Go slices
// (`type ExtraValue []string`), and each package's API group. scripts/gen-kube-descriptor.mjs compiles the result
// at build time, so building needs neither Go nor the network.
//
// Run after changing go.mod: `node scripts/kube-proto/vendor.mjs` (needs Go; GOTOOLCHAIN=local).
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync, mkdirSync, rmSync, statSync } from "node:fs";
import { join, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const out = join(root, "proto-kube");
const go = process.env.GO ?? (statSafe("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : "go");
const modules = ["k8s.io/api", "k8s.io/apimachinery", "k8s.io/kube-aggregator", "k8s.io/apiextensions-apiserver"];

function statSafe(p) {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

const downloaded = execFileSync(go, ["mod", "download", "-json", ...modules], { cwd: here, env: { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "-mod=mod" } })
  .toString()
  .split(/\n(?=\{)/)
  .map((s) => JSON.parse(s));

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

// Test-only API groups are not stored by any apiserver.
const skip = (path) => /\/testapigroup\/|\/testdata\//.test(path);

/** Strips comments and blank lines: the descriptor needs the definitions, not their documentation. */
function stripProto(text) {
  return text
    .split("\n")
    .filter((line) => !/^\s*\/\//.test(line) && line.trim() !== "")
    .join("\n")
    .replace(/\/\*[\s\S]*?\*\//g, "");
}

const FIELD = /^\t(?:(\w+)\s+)?([^\s`]+)\s+`([^`]*)`/;
/** Go declarations of a package: struct fields keyed by protobuf number, and non-struct (slice/map) types. */
function goTypes(dir) {
  const types = {};
  for (const file of readdirSync(dir)) {
    if (!file.endsWith(".go") || file.endsWith("_test.go") || file.startsWith("zz_generated") || file.startsWith("generated")) continue;
    const lines = readFileSync(join(dir, file), "utf8").split("\n");
    let current;
    for (const line of lines) {
      const alias = /^type (\w+) (\[\]\S+|map\[\S+)$/.exec(line);
      if (alias) types[alias[1]] = { goType: alias[2] };
      const open = /^type (\w+) struct \{/.exec(line);
      if (open) {
        current = types[open[1]] = { fields: {}, order: [] };
        continue;
      }
      if (line.startsWith("}")) current = undefined;
      if (!current) continue;
      const m = FIELD.exec(line);
      if (!m) continue;
      const tag = m[3];
      const pb = /protobuf:"([^"]*)"/.exec(tag);
      const js = /json:"([^"]*)"/.exec(tag);
      if (!pb || !js) continue;
      const number = pb[1].split(",")[1];
      const [jsonName, ...opts] = js[1].split(",");
      const goType = m[2];
      // Go's encoding/json writes fields in declaration order, which is not always the protobuf numbering.
      current.order.push(Number(number));
      current.fields[number] = {
        json: jsonName || (m[1] ?? m[2].replace(/^\*/, "").replace(/^\w+\./, "")),
        ...(opts.includes("omitempty") ? { omitempty: true } : {}),
        ...(opts.includes("omitzero") ? { omitzero: true } : {}),
        ...(opts.includes("inline") ? { inline: true } : {}),
        ...(goType.startsWith("*") ? { pointer: true } : {}),
        ...(goType.startsWith("[]") && goType !== "[]byte" ? { slice: true } : {}),
      };
    }
  }
  return types;
}

rmSync(out, { recursive: true, force: true });
const packages = {};
const versions = {};
for (const mod of downloaded) {
  versions[mod.Path] = mod.Version;
  for (const file of walk(mod.Dir).filter((p) => p.endsWith("/generated.proto") && !skip(p))) {
    const text = readFileSync(file, "utf8");
    const importPath = join(mod.Path, relative(mod.Dir, file));
    const target = join(out, importPath);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, `// Vendored from ${mod.Path}@${mod.Version} (Apache-2.0) by scripts/kube-proto/vendor.mjs; comments removed.\n${stripProto(text)}\n`);
    const pkg = /^package ([\w.]+);/m.exec(text)[1];
    const dir = dirname(file);
    const doc = statSafe(join(dir, "doc.go")) ? readFileSync(join(dir, "doc.go"), "utf8") : "";
    const register = statSafe(join(dir, "register.go")) ? readFileSync(join(dir, "register.go"), "utf8") : "";
    const group = /^\/\/ \+groupName=(\S*)/m.exec(doc) ?? /^const GroupName = "([^"]*)"/m.exec(register);
    packages[pkg] = { ...(group ? { group: group[1] } : {}), goTypes: goTypes(dir) };
  }
}
writeFileSync(join(out, "go-types.json"), `${JSON.stringify({ versions, packages }, null, 1)}\n`);
console.log(`vendored ${Object.keys(packages).length} packages from ${Object.entries(versions).map(([m, v]) => `${m}@${v}`).join(", ")} into ${relative(root, out)}`);
