// An admission webhook backend the test runs itself, on 127.0.0.1 (the network rule), called by URL
// (`clientConfig.url`): the apiserver refuses Endpoints and EndpointSlices on loopback addresses, so a Service
// cannot lead it here. HTTPS with a self-signed certificate for IP 127.0.0.1 (the caBundle). POST /validate
// refuses every request, POST /mutate allows it unchanged; both count their calls, so a test can prove that each
// webhook fired.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REFUSAL = "refused by the test's fail-closed validating webhook";

export interface AdmissionWebhookServer {
  port: number;
  /** https://127.0.0.1:<port> */
  url: string;
  /** PEM of the self-signed certificate: the webhook configurations' caBundle (base64 of it). */
  caBundle: string;
  calls: { validate: number; mutate: number };
  stop(): Promise<void>;
}

export async function startAdmissionWebhookServer(): Promise<AdmissionWebhookServer> {
  const dir = mkdtempSync(join(tmpdir(), "twinsnap-webhook-"));
  try {
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
      { stdio: "ignore" },
    );
    const cert = readFileSync(join(dir, "cert.pem"), "utf8");
    const key = readFileSync(join(dir, "key.pem"), "utf8");
    const calls = { validate: 0, mutate: 0 };
    const server: Server = createServer({ cert, key }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const review = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as { request?: { uid?: string } };
        const uid = review.request?.uid ?? "";
        const validate = req.url?.startsWith("/validate") ?? false;
        if (validate) calls.validate++;
        else calls.mutate++;
        const response = validate ? { uid, allowed: false, status: { code: 403, message: REFUSAL } } : { uid, allowed: true };
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response }));
      });
    });
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
    return {
      port: (server.address() as AddressInfo).port,
      url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
      caBundle: cert,
      calls,
      // The apiserver keeps its connections open: close them too, or close() waits for them.
      stop: () =>
        new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        }),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
