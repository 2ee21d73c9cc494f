// Finding and authenticating to a cluster from kubeconfig files, as kubectl does.
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hasClusterAccess, KubeconfigError, loadClusterConnection } from "../../src/kube/kubeconfig.js";

function kubeconfig(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
}

const BASE = (user: string) => `
apiVersion: v1
kind: Config
current-context: prod
contexts: [{ name: prod, context: { cluster: prod, user: admin, namespace: shop } }]
clusters: [{ name: prod, cluster: { server: "https://10.0.0.1:6443", certificate-authority: ca.crt, tls-server-name: api.prod } }]
users: [{ name: admin, user: ${user} }]
`;

describe("kubeconfig", () => {
  const dir = mkdtempSync(join(tmpdir(), "twinsnap-kc-"));
  writeFileSync(join(dir, "ca.crt"), "CA PEM");

  it("reads server, CA (relative to the file), TLS name, namespace and a bearer token", async () => {
    const c = await loadClusterConnection({ kubeconfigPath: kubeconfig(dir, "token.yaml", BASE("{ token: abc }")), env: {} });
    assert.equal(c.server, "https://10.0.0.1:6443");
    assert.equal(c.ca?.toString(), "CA PEM");
    assert.equal(c.tlsServerName, "api.prod");
    assert.equal(c.namespace, "shop");
    assert.equal(await c.authorization(), "Bearer abc");
    assert.equal(await c.clientCertificate(), undefined);
  });

  it("re-reads a token file on every use (projected tokens rotate)", async () => {
    writeFileSync(join(dir, "token"), "one\n");
    const c = await loadClusterConnection({ kubeconfigPath: kubeconfig(dir, "tokenfile.yaml", BASE("{ tokenFile: token }")), env: {} });
    assert.equal(await c.authorization(), "Bearer one");
    writeFileSync(join(dir, "token"), "two\n");
    assert.equal(await c.authorization(), "Bearer two");
  });

  it("uses client certificates from data or files", async () => {
    const c = await loadClusterConnection({
      kubeconfigPath: kubeconfig(dir, "cert.yaml", BASE(`{ client-certificate-data: ${Buffer.from("CERT").toString("base64")}, client-key-data: ${Buffer.from("KEY").toString("base64")} }`)),
      env: {},
    });
    const cert = await c.clientCertificate();
    assert.equal(cert?.cert.toString(), "CERT");
    assert.equal(cert?.key.toString(), "KEY");
  });

  it("runs an exec credential plugin and caches its token until it expires", async () => {
    const bin = join(dir, "bin");
    mkdirSync(bin, { recursive: true });
    const counter = join(dir, "calls");
    writeFileSync(counter, "");
    const plugin = join(bin, "get-token");
    writeFileSync(
      plugin,
      `#!/bin/sh\necho x >> "${counter}"\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-'"$REGION"'","expirationTimestamp":"2999-01-01T00:00:00Z"}}'\n`,
    );
    chmodSync(plugin, 0o755);
    const c = await loadClusterConnection({
      kubeconfigPath: kubeconfig(dir, "exec.yaml", BASE(`{ exec: { apiVersion: client.authentication.k8s.io/v1, command: ${plugin}, env: [{ name: REGION, value: eu }] } }`)),
      env: { PATH: process.env.PATH },
    });
    assert.equal(await c.authorization(), "Bearer from-eu");
    assert.equal(await c.authorization(), "Bearer from-eu");
    const { readFileSync } = await import("node:fs");
    assert.equal(readFileSync(counter, "utf8").trim().split("\n").length, 1, "cached until expiry");
  });

  it("merges KUBECONFIG files: the first definition wins", async () => {
    const a = kubeconfig(dir, "a.yaml", "current-context: dev\ncontexts: [{ name: dev, context: { cluster: dev, user: u } }]\n");
    const b = kubeconfig(dir, "b.yaml", "clusters: [{ name: dev, cluster: { server: 'https://dev:6443', insecure-skip-tls-verify: true } }]\nusers: [{ name: u, user: { token: t } }]\n");
    const c = await loadClusterConnection({ env: { KUBECONFIG: `${a}:${b}:${join(dir, "missing.yaml")}` } });
    assert.equal(c.server, "https://dev:6443");
    assert.equal(c.insecureSkipTlsVerify, true);
    assert.equal(await c.authorization(), "Bearer t");
  });

  it("says what is missing", async () => {
    await assert.rejects(loadClusterConnection({ kubeconfigPath: kubeconfig(dir, "nocontext.yaml", "clusters: []\n"), env: {} }), KubeconfigError);
    await assert.rejects(
      loadClusterConnection({ kubeconfigPath: kubeconfig(dir, "legacy.yaml", BASE("{ auth-provider: { name: gcp } }")), env: {} }),
      /legacy auth-provider; use an exec credential plugin/,
    );
    await assert.rejects(loadClusterConnection({ env: { HOME: dir } }), /no kubeconfig found/);
    assert.equal(hasClusterAccess({ env: { HOME: dir } }), false);
  });

  it("--context picks another context; an unknown one, an unreadable CA or a missing file is a KubeconfigError saying which", async () => {
    const two = kubeconfig(
      dir,
      "two.yaml",
      `current-context: prod
contexts: [{ name: prod, context: { cluster: prod, user: u } }, { name: staging, context: { cluster: staging, user: u } }]
clusters: [{ name: prod, cluster: { server: "https://10.0.0.1:6443" } }, { name: staging, cluster: { server: "https://[fd00::2]:6443", proxy-url: "http://127.0.0.1:3128" } }]
users: [{ name: u, user: { token: t } }]
`,
    );
    const staging = await loadClusterConnection({ kubeconfigPath: two, context: "staging", env: {} });
    assert.equal(staging.server, "https://[fd00::2]:6443");
    assert.equal(staging.proxy?.href, "http://127.0.0.1:3128/");
    assert.match(staging.source, /context staging/);
    await assert.rejects(loadClusterConnection({ kubeconfigPath: two, context: "stagin", env: {} }), (e: unknown) => e instanceof KubeconfigError && /context "stagin" is not defined \(it defines prod, staging\)/.test(e.message));
    const noCa = kubeconfig(dir, "noca.yaml", BASE("{ token: abc }").replace("certificate-authority: ca.crt", "certificate-authority: missing-ca.crt"));
    await assert.rejects(loadClusterConnection({ kubeconfigPath: noCa, env: {} }), (e: unknown) => e instanceof KubeconfigError && /cannot read .*missing-ca.crt \(ENOENT\)/.test(e.message));
    await assert.rejects(loadClusterConnection({ kubeconfigPath: join(dir, "nonexistent.yaml"), env: {} }), (e: unknown) => e instanceof KubeconfigError && /cannot read kubeconfig .*nonexistent.yaml/.test(e.message));
    await assert.rejects(loadClusterConnection({ kubeconfigPath: kubeconfig(dir, "badserver.yaml", BASE("{ token: abc }").replace("https://10.0.0.1:6443", "10.0.0.1:6443")), env: {} }), /server "10.0.0.1:6443" is not a URL \(example: https:\/\/10.0.0.1:6443\)/);
  });
});
