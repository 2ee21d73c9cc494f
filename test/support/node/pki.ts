// The certificates of a kubeadm control plane, laid out as kubeadm lays them out (/etc/kubernetes/pki under a
// test directory): a cluster CA and an etcd CA, serving and client certificates, files 0600 for keys, owned by
// root. Made with openssl, which every machine running the node tests has.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Pki {
  dir: string;
  ca: string;
  apiserverCert: string;
  apiserverKey: string;
  kubeletClientCert: string;
  kubeletClientKey: string;
  saKey: string;
  saPub: string;
  etcd: { dir: string; ca: string; serverCert: string; serverKey: string; healthcheckCert: string; healthcheckKey: string; apiserverClientCert: string; apiserverClientKey: string };
}

const openssl = (args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] });

function makeCa(dir: string, name: string, cn: string): void {
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${cn}`, "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.crt`), "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"]);
  chmodSync(join(dir, `${name}.key`), 0o600);
}

/** A leaf certificate signed by caDir/caName, with subject `subj` and subjectAltNames `san` (or none). */
function makeLeaf(dir: string, name: string, caDir: string, caName: string, subj: string, usage: "server" | "client" | "both", san: string[] = []): void {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  openssl(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", subj, "-keyout", key, "-out", csr]);
  const eku = usage === "server" ? "serverAuth" : usage === "client" ? "clientAuth" : "serverAuth,clientAuth";
  writeFileSync(ext, [`keyUsage=critical,digitalSignature,keyEncipherment`, `extendedKeyUsage=${eku}`, ...(san.length ? [`subjectAltName=${san.join(",")}`] : [])].join("\n") + "\n");
  openssl(["x509", "-req", "-in", csr, "-CA", join(caDir, `${caName}.crt`), "-CAkey", join(caDir, `${caName}.key`), "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", join(dir, `${name}.crt`)]);
  chmodSync(key, 0o600);
}

export function makePki(root: string, nodeIp: string, nodeName: string): Pki {
  const dir = join(root, "pki");
  const etcdDir = join(dir, "etcd");
  mkdirSync(etcdDir, { recursive: true, mode: 0o755 });
  makeCa(dir, "ca", "kubernetes");
  makeCa(etcdDir, "ca", "etcd-ca");
  const apiserverSans = ["DNS:kubernetes", "DNS:kubernetes.default", "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local", `DNS:${nodeName}`, "IP:10.96.0.1", `IP:${nodeIp}`, "IP:127.0.0.1"];
  makeLeaf(dir, "apiserver", dir, "ca", "/CN=kube-apiserver", "server", apiserverSans);
  makeLeaf(dir, "apiserver-kubelet-client", dir, "ca", "/O=system:masters/CN=kube-apiserver-kubelet-client", "client");
  makeLeaf(etcdDir, "server", etcdDir, "ca", `/CN=${nodeName}`, "both", [`DNS:${nodeName}`, "DNS:localhost", "IP:127.0.0.1", `IP:${nodeIp}`]);
  makeLeaf(etcdDir, "healthcheck-client", etcdDir, "ca", "/CN=kube-etcd-healthcheck-client", "client");
  makeLeaf(dir, "apiserver-etcd-client", etcdDir, "ca", "/CN=kube-apiserver-etcd-client", "client");
  openssl(["genrsa", "-out", join(dir, "sa.key"), "2048"]);
  chmodSync(join(dir, "sa.key"), 0o600);
  openssl(["rsa", "-in", join(dir, "sa.key"), "-pubout", "-out", join(dir, "sa.pub")]);
  return {
    dir,
    ca: join(dir, "ca.crt"),
    apiserverCert: join(dir, "apiserver.crt"),
    apiserverKey: join(dir, "apiserver.key"),
    kubeletClientCert: join(dir, "apiserver-kubelet-client.crt"),
    kubeletClientKey: join(dir, "apiserver-kubelet-client.key"),
    saKey: join(dir, "sa.key"),
    saPub: join(dir, "sa.pub"),
    etcd: {
      dir: etcdDir,
      ca: join(etcdDir, "ca.crt"),
      serverCert: join(etcdDir, "server.crt"),
      serverKey: join(etcdDir, "server.key"),
      healthcheckCert: join(etcdDir, "healthcheck-client.crt"),
      healthcheckKey: join(etcdDir, "healthcheck-client.key"),
      apiserverClientCert: join(dir, "apiserver-etcd-client.crt"),
      apiserverClientKey: join(dir, "apiserver-etcd-client.key"),
    },
  };
}
