// The images scripts/build-images.mjs writes, read back as a registry or containerd reads them: an OCI layout
// (oci-layout, index.json naming the image, manifest, config, one layer), and in the layer the files Velero and
// the kubelet will use, with the owners and modes the Dockerfile gives them.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { extract } from "tar-stream";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const run = promisify(execFile);

interface Entry { name: string; type: string; mode: number; uid: number; gid: number; linkname?: string; body: Buffer }

async function untar(buf: Buffer): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => { ex.on("finish", resolve); ex.on("error", reject); });
  ex.on("entry", (h, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c) => chunks.push(c as Buffer));
    stream.on("end", () => {
      out.set(h.name.replace(/\/$/, ""), { name: h.name, type: h.type ?? "file", mode: h.mode ?? 0, uid: h.uid ?? 0, gid: h.gid ?? 0, ...(h.linkname ? { linkname: h.linkname } : {}), body: Buffer.concat(chunks) });
      next();
    });
  });
  Readable.from([buf]).pipe(ex);
  await done;
  return out;
}

async function readImage(file: string) {
  const archive = await untar(readFileSync(file));
  const blob = (digest: string) => {
    const e = archive.get(`blobs/sha256/${digest.replace(/^sha256:/, "")}`);
    assert.ok(e, `blob ${digest} is in the archive`);
    assert.equal(`sha256:${createHash("sha256").update(e.body).digest("hex")}`, digest, "blob content matches its digest");
    return e.body;
  };
  assert.deepEqual(JSON.parse(archive.get("oci-layout")!.body.toString()), { imageLayoutVersion: "1.0.0" });
  const index = JSON.parse(archive.get("index.json")!.body.toString());
  const desc = index.manifests[0];
  const manifest = JSON.parse(blob(desc.digest).toString());
  const config = JSON.parse(blob(manifest.config.digest).toString());
  assert.equal(manifest.layers.length, 1);
  assert.deepEqual(config.rootfs.diff_ids, [manifest.layers[0].digest]);
  const layer = await untar(blob(manifest.layers[0].digest));
  return { name: desc.annotations["io.containerd.image.name"] as string, config: config.config, layer };
}

describe("images built daemonless (scripts/build-images.mjs)", function () {
  this.timeout(300_000);
  let out: string;
  before(async () => {
    out = mkdtempSync(join(tmpdir(), "twinsnap-images-"));
    await run(process.execPath, [join(root, "scripts", "build-images.mjs"), out, "twinsnap-velero-plugin", "twinsnap"], { maxBuffer: 16 << 20 });
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  it("the plugin init image copies the executable into /target: busybox sh, /plugins owned by 65532, libraries not executable", async () => {
    const { name, config, layer } = await readImage(join(out, "twinsnap-velero-plugin.oci.tar"));
    assert.match(name, /\/twinsnap-velero-plugin:0\.1\.0$/);
    assert.deepEqual(config.Entrypoint, ["/bin/sh", "-c", "cp -a /plugins/. /target/"]);
    assert.equal(config.User, "65532:65532");
    assert.equal(layer.get("bin/sh")?.linkname, "busybox");
    const exe = layer.get("plugins/twinsnap")!;
    assert.deepEqual([exe.mode & 0o777, exe.uid, exe.gid], [0o755, 65532, 65532]);
    assert.deepEqual(exe.body, readFileSync(join(root, "dist", "executable", "twinsnap")), "the executable npm run build:executable wrote");
    // Velero runs every executable file under /plugins: the libraries must not be one.
    for (const lib of ["libstdc++.so.6", "libgcc_s.so.1"]) assert.equal(layer.get(`plugins/twinsnap-libs/${lib}`)!.mode & 0o111, 0, lib);
  });

  it("the coordinator image: glibc and CA certificates from Debian, the executable under /opt/twinsnap, non-root", async () => {
    const { config, layer } = await readImage(join(out, "twinsnap.oci.tar"));
    assert.deepEqual(config.Entrypoint, ["/opt/twinsnap/twinsnap", "coordinator"]);
    assert.equal(config.User, "65532:65532");
    assert.ok(layer.has("opt/twinsnap/twinsnap") && layer.has("opt/twinsnap/twinsnap-libs/libstdc++.so.6"));
    assert.ok(layer.has("lib64/ld-linux-x86-64.so.2"), "the ELF interpreter node needs");
    assert.ok([...layer.keys()].some((k) => /^(usr\/)?lib\/x86_64-linux-gnu\/libc\.so\.6$/.test(k)), "glibc");
    assert.ok(layer.get("etc/ssl/certs/ca-certificates.crt")!.body.length > 1000);
    assert.match(layer.get("etc/passwd")!.body.toString(), /^nonroot:x:65532:65532:/m);
    assert.equal(layer.get("tmp")!.mode & 0o7777, 0o1777);
  });

  it("refuses an unknown image name with the names it knows", async () => {
    await assert.rejects(run(process.execPath, [join(root, "scripts", "build-images.mjs"), out, "twinsnap-coordinator"]), (err: Error & { stderr?: string }) => {
      assert.match(err.stderr ?? "", /no image "twinsnap-coordinator"; known: twinsnap-velero-plugin, twinsnap,/);
      return true;
    });
  });
});
