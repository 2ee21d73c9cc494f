// Builds twinsnap's container images without a daemon or a registry, as OCI image layout tarballs that
// `ctr -n k8s.io images import` (or `skopeo copy oci-archive:...`) takes:
//   node scripts/build-images.mjs OUT_DIR [name...]      (default: every image below)
// Writes OUT_DIR/<name>.oci.tar and OUT_DIR/images.json ({ name: reference }).
//
// The images hold the same content as the Dockerfile's targets (the user's way to build them): the plugin init
// image and the coordinator image take dist/executable/ (npm run build:executable); their base files come from
// Debian packages installed on this machine (busybox-static, libc6, ca-certificates), never from a registry.
// Test-only images (Velero server, velero-plugin-for-aws, the pod sandbox, a webhook backend) are built the same
// way from the peers (scripts/peers.sh), for the real-node tests.
//
// Why a script rather than buildah/umoci: an OCI layout is three small JSON documents and an uncompressed tar per
// layer; writing them directly needs no daemon, no user-namespace setup and no package beyond tar-stream, and is
// byte-for-byte reproducible (fixed mtimes and owners).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, statSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import tarStream from "tar-stream";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;

/** Where images are named. `.test` never resolves (RFC 2606): a node that tried to pull one fails locally. */
export const REGISTRY = process.env.TWINSNAP_IMAGE_REGISTRY ?? "registry.twinsnap.test/twinsnap";
const NONROOT = 65532;
const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ---- file sources -------------------------------------------------------------------------------------------
/** A file (or symlink) of the host copied to `to`. */
const hostFile = (from, to, mode) => ({ from, to, mode });
/** Every file of a Debian package installed here, at its own path (docs, man pages and locales left out). */
function debianPackage(pkg) {
  const list = execFileSync("dpkg", ["-L", pkg], { encoding: "utf8" }).split("\n").filter(Boolean);
  return list
    .filter((p) => !/^\/usr\/share\/(doc|man|lintian|locale)\b/.test(p))
    // directories, and merged-/usr links to directories (/lib -> usr/lib), are made as the files' parents
    .filter((p) => { try { return !statSync(p).isDirectory(); } catch { return false; } })
    .map((p) => hostFile(p, p));
}
/** A directory tree of the host placed under `to`. */
function hostTree(from, to, opts = {}) {
  const out = [];
  const walk = (dir, rel) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const st = lstatSync(full);
      const target = posix.join(to, rel, name);
      if (st.isDirectory()) { out.push({ dir: target, ...opts }); walk(full, posix.join(rel, name)); }
      else out.push({ from: full, to: target, ...opts });
    }
  };
  walk(from, "");
  return out;
}
const text = (to, body, mode = 0o644) => ({ body, to, mode });
const symlink = (to, target) => ({ to, linkname: target });
const directory = (to, opts = {}) => ({ dir: to, ...opts });

/** busybox-static and the applets an entrypoint uses, as links to it. */
function busybox(applets = ["sh", "cp", "ls", "cat", "sleep", "mkdir"]) {
  const bin = ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p));
  if (!bin) throw new Error("busybox-static is needed (apt-get install busybox-static)");
  // It runs in images without a C library: a dynamically linked busybox (Debian's "busybox") would not start.
  if (readFileSync(bin).includes("/lib64/ld-linux")) throw new Error(`${bin} is dynamically linked: install busybox-static (apt-get install busybox-static)`);
  return [hostFile(bin, "/bin/busybox", 0o755), ...applets.map((a) => symlink(`/bin/${a}`, "busybox"))];
}
const passwd = [
  text("/etc/passwd", `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${NONROOT}:${NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n`),
  text("/etc/group", `root:x:0:\nnonroot:x:${NONROOT}:\n`),
  directory("/home/nonroot", { uid: NONROOT, gid: NONROOT, mode: 0o700 }),
  directory("/tmp", { mode: 0o1777 }),
];
const caCertificates = [hostFile("/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt", 0o644)];

function executableDir() {
  const dir = join(root, "dist", "executable");
  if (!existsSync(join(dir, "twinsnap"))) throw new Error(`${dir}/twinsnap is missing: run npm run build && npm run build:executable first`);
  return dir;
}
function peerBin(name) {
  const envFile = join(process.env.TWINSNAP_CACHE ?? join(process.env.HOME ?? "/root", ".cache", "twinsnap"), "peers", "current.env");
  const fromFile = existsSync(envFile) ? readFileSync(envFile, "utf8").split("\n").find((l) => l.startsWith(`${name}=`))?.slice(name.length + 1) : undefined;
  const path = process.env[name] ?? fromFile;
  if (!path || !existsSync(path)) throw new Error(`${name} is not available: run scripts/peers.sh`);
  return path;
}

// ---- the images -----------------------------------------------------------------------------------------------
// Each: name (and tag), the files of its one layer, and its OCI config. The first two mirror Dockerfile's targets.
export const IMAGES = {
  // Velero's plugin init image: copies the executable and its libraries into Velero's plugins dir (/target).
  "twinsnap-velero-plugin": () => ({
    files: [...busybox(), ...passwd, ...hostTree(executableDir(), "/plugins", { uid: NONROOT, gid: NONROOT })],
    config: { User: `${NONROOT}:${NONROOT}`, Entrypoint: ["/bin/sh", "-c", "cp -a /plugins/. /target/"], Env: [PATH_ENV] },
  }),
  // The coordinator (and CLI): glibc, CA certificates, the executable; non-root. busybox (no applet links) is for
  // the chart's init step that copies kubeadm's root-only etcd client key for the coordinator's user.
  twinsnap: () => ({
    files: [...busybox([]), ...debianPackage("libc6"), ...caCertificates, ...passwd, ...hostTree(executableDir(), "/opt/twinsnap")],
    config: { User: `${NONROOT}:${NONROOT}`, Entrypoint: ["/opt/twinsnap/twinsnap", "coordinator"], Env: [PATH_ENV], WorkingDir: "/home/nonroot" },
  }),
  // Test images from the peers. Velero's deployment runs /velero (static Go) and needs CA certificates. Velero's
  // own image is built on a minimal Ubuntu (paketo run-jammy-tiny) that has glibc: plugins it runs, twinsnap among
  // them, may be dynamically linked. So glibc here too, or the test would not run what users run.
  velero: () => ({
    tag: "v1.18.1",
    files: [hostFile(peerBin("VELERO_BIN"), "/velero", 0o755), ...debianPackage("libc6"), ...caCertificates, ...passwd, directory("/scratch", { mode: 0o1777 })],
    config: { User: `${NONROOT}:${NONROOT}`, Entrypoint: ["/velero"], Env: [PATH_ENV] },
  }),
  "velero-plugin-for-aws": () => ({
    tag: "v1.14.3",
    files: [...busybox(), ...passwd, hostFile(peerBin("VELERO_PLUGIN_AWS_BIN"), "/plugins/velero-plugin-for-aws", 0o755)],
    config: { User: `${NONROOT}:${NONROOT}`, Entrypoint: ["/bin/sh", "-c", "cp /plugins/* /target/."], Env: [PATH_ENV] },
  }),
  // The pod sandbox ("pause"): sleeps until told to stop. busybox sh as PID 1 exits on TERM/INT by its trap.
  pause: () => ({
    tag: "3.10",
    files: busybox(["sh", "sleep"]),
    config: { Entrypoint: ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"], Env: [PATH_ENV] },
  }),
  // An admission webhook backend (test/peers/webhook-backend): static Go, its certificate mounted at /tls.
  "webhook-backend": () => ({
    tag: "1.0",
    files: [hostFile(peerBin("WEBHOOK_BACKEND_BIN"), "/webhook-backend", 0o755), ...passwd],
    config: { User: `${NONROOT}:${NONROOT}`, Entrypoint: ["/webhook-backend"], Env: [PATH_ENV] },
  }),
  // A general-purpose test image for workloads (busybox with all its applets).
  busybox: () => ({
    tag: "1.35",
    files: busybox(["sh", "cp", "ls", "cat", "sleep", "mkdir", "echo", "wget", "httpd", "nc", "date", "true", "test", "grep"]),
    config: { Entrypoint: ["/bin/sh"], Env: [PATH_ENV] },
  }),
};

// ---- OCI layout writer ----------------------------------------------------------------------------------------
const EPOCH = new Date(0);
const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");

async function layerTar(files) {
  const pack = tarStream.pack();
  const chunks = [];
  pack.on("data", (c) => chunks.push(c));
  const ended = new Promise((resolve, reject) => { pack.on("end", resolve); pack.on("error", reject); });
  const seen = new Set();
  const addDirs = (p) => { // parents first, root-owned 0755, once each
    const parts = p.split("/").filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const d = "/" + parts.slice(0, i).join("/");
      if (seen.has(d)) continue;
      seen.add(d);
      pack.entry({ name: d.slice(1) + "/", type: "directory", mode: 0o755, mtime: EPOCH, uid: 0, gid: 0 });
    }
  };
  const entries = [...files].sort((a, b) => (a.to ?? a.dir).localeCompare(b.to ?? b.dir));
  for (const f of entries) {
    const to = f.to ?? f.dir;
    if (seen.has(to)) continue;
    addDirs(to);
    seen.add(to);
    const owner = { uid: f.uid ?? 0, gid: f.gid ?? 0, mtime: EPOCH };
    if (f.dir) { pack.entry({ name: to.slice(1) + "/", type: "directory", mode: f.mode ?? 0o755, ...owner }); continue; }
    if (f.linkname) { pack.entry({ name: to.slice(1), type: "symlink", linkname: f.linkname, mode: 0o777, ...owner }); continue; }
    if (f.body !== undefined) { pack.entry({ name: to.slice(1), mode: f.mode, ...owner }, f.body); continue; }
    const st = lstatSync(f.from);
    if (st.isSymbolicLink()) { pack.entry({ name: to.slice(1), type: "symlink", linkname: readlinkSync(f.from), mode: 0o777, ...owner }); continue; }
    pack.entry({ name: to.slice(1), mode: f.mode ?? (st.mode & 0o7777), ...owner }, readFileSync(f.from));
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

async function writeImage(outDir, name, def) {
  const tag = def.tag ?? version;
  const reference = `${REGISTRY}/${name}:${tag}`;
  const layer = await layerTar(def.files);
  const blobs = new Map();
  const blob = (buf, mediaType) => { const d = `sha256:${sha256(buf)}`; blobs.set(d, buf); return { mediaType, digest: d, size: buf.length }; };
  const layerDesc = blob(layer, "application/vnd.oci.image.layer.v1.tar");
  const config = {
    architecture: "amd64", os: "linux", created: EPOCH.toISOString(),
    config: def.config,
    rootfs: { type: "layers", diff_ids: [layerDesc.digest] },
    history: [{ created: EPOCH.toISOString(), created_by: `twinsnap scripts/build-images.mjs ${name}` }],
  };
  const configDesc = blob(Buffer.from(JSON.stringify(config)), "application/vnd.oci.image.config.v1+json");
  const manifest = { schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: configDesc, layers: [layerDesc] };
  const manifestDesc = blob(Buffer.from(JSON.stringify(manifest)), "application/vnd.oci.image.manifest.v1+json");
  // containerd's importer names the image from io.containerd.image.name; OCI tools read ref.name.
  const index = {
    schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{ ...manifestDesc, platform: { architecture: "amd64", os: "linux" }, annotations: { "io.containerd.image.name": reference, "org.opencontainers.image.ref.name": tag } }],
  };
  const pack = tarStream.pack();
  const chunks = [];
  pack.on("data", (c) => chunks.push(c));
  const ended = new Promise((resolve, reject) => { pack.on("end", resolve); pack.on("error", reject); });
  const meta = { mode: 0o644, mtime: EPOCH };
  pack.entry({ name: "oci-layout", ...meta }, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  pack.entry({ name: "index.json", ...meta }, JSON.stringify(index));
  pack.entry({ name: "blobs/", type: "directory", mode: 0o755, mtime: EPOCH });
  pack.entry({ name: "blobs/sha256/", type: "directory", mode: 0o755, mtime: EPOCH });
  for (const [d, buf] of blobs) pack.entry({ name: `blobs/sha256/${d.slice(7)}`, ...meta }, buf);
  pack.finalize();
  await ended;
  const file = join(outDir, `${name}.oci.tar`);
  writeFileSync(file, Buffer.concat(chunks));
  return { reference, file, layerBytes: layer.length };
}

async function main(argv) {
  const [outDir, ...names] = argv;
  if (!outDir) { console.error("usage: node scripts/build-images.mjs OUT_DIR [name...]   names: " + Object.keys(IMAGES).join(", ")); process.exit(2); }
  for (const n of names) if (!IMAGES[n]) { console.error(`build-images: no image "${n}"; known: ${Object.keys(IMAGES).join(", ")}`); process.exit(2); }
  mkdirSync(outDir, { recursive: true });
  const built = {};
  for (const name of names.length ? names : Object.keys(IMAGES)) {
    const started = Date.now();
    const { reference, file, layerBytes } = await writeImage(outDir, name, IMAGES[name]());
    built[name] = reference;
    console.error(`build-images: ${reference} -> ${file} (${(layerBytes / 1048576).toFixed(1)} MiB, ${Date.now() - started} ms)`);
  }
  const index = join(outDir, "images.json");
  const previous = existsSync(index) ? JSON.parse(readFileSync(index, "utf8")) : {};
  writeFileSync(index, JSON.stringify({ ...previous, ...built }, null, 2) + "\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => { console.error(`build-images: ${e.message}`); process.exit(1); });
}
