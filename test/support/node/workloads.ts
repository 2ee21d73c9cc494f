// The workloads the real-node tests install, back up and restore, as plain objects: a shop (a Deployment writing
// to a claim on a hostPath volume, with ConfigMaps) and an admission webhook backend (a Deployment of the
// webhook-backend image, its Service and certificate, and the two webhook configurations that call it).
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const SHOP = "shop";
export const HOOKS = "hooks";
/** ConfigMaps with this label go through the test webhooks (other objects, kube-root-ca.crt among them, do not). */
export const CHECKED_LABEL = "twinsnap.test/checked";

export function shopObjects(images: { busybox: string }, volumeDir: string): object[] {
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: SHOP, labels: { "twinsnap.test/webhook": "on" } } },
    {
      apiVersion: "v1", kind: "PersistentVolume", metadata: { name: "shop-data", labels: { app: "shop" } },
      spec: { capacity: { storage: "1Gi" }, accessModes: ["ReadWriteOnce"], persistentVolumeReclaimPolicy: "Retain", storageClassName: "node-local", hostPath: { path: volumeDir, type: "DirectoryOrCreate" } },
    },
    {
      apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: { name: "shop-data", namespace: SHOP },
      spec: { accessModes: ["ReadWriteOnce"], storageClassName: "node-local", resources: { requests: { storage: "1Gi" } }, volumeName: "shop-data" },
    },
    ...Array.from({ length: 5 }, (_, i) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `settings-${i}`, namespace: SHOP }, data: { index: String(i) } })),
    {
      apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "shop", namespace: SHOP },
      spec: {
        replicas: 1, selector: { matchLabels: { app: "shop" } },
        template: {
          metadata: { labels: { app: "shop" } },
          spec: {
            terminationGracePeriodSeconds: 2,
            containers: [{
              name: "shop", image: images.busybox,
              // Writes the first-start stamp once, and one line per start: the data outlives the Pod.
              command: ["/bin/sh", "-c", "[ -f /data/first ] || echo \"first start $(date)\" > /data/first; echo start >> /data/starts; while :; do sleep 3600 & wait $!; done"],
              volumeMounts: [{ name: "data", mountPath: "/data" }],
            }],
            volumes: [{ name: "data", persistentVolumeClaim: { claimName: "shop-data" } }],
          },
        },
      },
    },
  ];
}

/** A CA and a serving certificate for webhook-backend.hooks.svc, made with openssl. */
export function webhookCertificates(dir: string): { caPem: string; certPem: string; keyPem: string } {
  mkdirSync(dir, { recursive: true });
  const o = (args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] });
  o(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=webhook-ca", "-keyout", join(dir, "ca.key"), "-out", join(dir, "ca.crt")]);
  o(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=webhook-backend.hooks.svc", "-keyout", join(dir, "tls.key"), "-out", join(dir, "tls.csr")]);
  execFileSync("sh", ["-c", `printf 'subjectAltName=DNS:webhook-backend.hooks.svc,DNS:webhook-backend.hooks.svc.cluster.local\\nextendedKeyUsage=serverAuth\\n' > ${join(dir, "ext")}`]);
  o(["x509", "-req", "-in", join(dir, "tls.csr"), "-CA", join(dir, "ca.crt"), "-CAkey", join(dir, "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", join(dir, "ext"), "-out", join(dir, "tls.crt")]);
  return { caPem: readFileSync(join(dir, "ca.crt"), "utf8"), certPem: readFileSync(join(dir, "tls.crt"), "utf8"), keyPem: readFileSync(join(dir, "tls.key"), "utf8") };
}

export function webhookObjects(image: string, certs: { caPem: string; certPem: string; keyPem: string }): object[] {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const clientConfig = (path: string) => ({ service: { namespace: HOOKS, name: "webhook-backend", path, port: 443 }, caBundle: b64(certs.caPem) });
  const rule = { apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["configmaps"], scope: "Namespaced" };
  const selectors = { namespaceSelector: { matchLabels: { "twinsnap.test/webhook": "on" } }, objectSelector: { matchExpressions: [{ key: CHECKED_LABEL, operator: "Exists" }] } };
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: HOOKS } },
    { apiVersion: "v1", kind: "Secret", metadata: { name: "webhook-backend-tls", namespace: HOOKS }, type: "kubernetes.io/tls", data: { "tls.crt": b64(certs.certPem), "tls.key": b64(certs.keyPem) } },
    {
      apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "webhook-backend", namespace: HOOKS },
      spec: {
        replicas: 1, selector: { matchLabels: { app: "webhook-backend" } },
        template: {
          metadata: { labels: { app: "webhook-backend" } },
          spec: {
            containers: [{
              name: "backend", image, ports: [{ containerPort: 8443, name: "https" }],
              readinessProbe: { httpGet: { path: "/healthz", port: 8443, scheme: "HTTPS" }, periodSeconds: 2 },
              volumeMounts: [{ name: "tls", mountPath: "/tls", readOnly: true }],
              securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
            }],
            volumes: [{ name: "tls", secret: { secretName: "webhook-backend-tls" } }],
          },
        },
      },
    },
    { apiVersion: "v1", kind: "Service", metadata: { name: "webhook-backend", namespace: HOOKS }, spec: { selector: { app: "webhook-backend" }, ports: [{ port: 443, targetPort: "https" }] } },
    {
      apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingWebhookConfiguration", metadata: { name: "twinsnap-test-deny" },
      webhooks: [{ name: "deny.twinsnap.test", clientConfig: clientConfig("/validate"), rules: [rule], ...selectors, failurePolicy: "Fail", sideEffects: "None", admissionReviewVersions: ["v1"], timeoutSeconds: 5 }],
    },
    {
      apiVersion: "admissionregistration.k8s.io/v1", kind: "MutatingWebhookConfiguration", metadata: { name: "twinsnap-test-stamp" },
      webhooks: [{ name: "stamp.twinsnap.test", clientConfig: clientConfig("/mutate"), rules: [rule], ...selectors, failurePolicy: "Fail", sideEffects: "None", admissionReviewVersions: ["v1"], timeoutSeconds: 5 }],
    },
  ];
}
