// Reading what the apiserver stored: etcd keys, encryption-at-rest envelopes, Go's JSON forms, Velero's coverage rules.
import assert from "node:assert/strict";
import { createCipheriv, randomBytes } from "node:crypto";
import { decryptLocal, DecryptionError, encryptedEnvelope, EncryptionConfigError, parseEncryptionConfig, secretboxOpen } from "../../src/kube-storage/encryption.js";
import { goDuration } from "../../src/kube-storage/proto-json.js";
import { parseStorageKey } from "../../src/kube-storage/storage-key.js";
import { decodeStoredValue } from "../../src/kube-storage/stored-value.js";
import { whyMissing, type BackupFilters, type CoverageObject } from "../../src/velero/backup-coverage.js";

describe("etcd keys of Kubernetes objects", () => {
  const cases: [string, ReturnType<typeof parseStorageKey>][] = [
    ["/registry/secrets/shop/db", { kind: "object", resource: "secrets", rest: ["shop", "db"] }],
    ["/registry/services/specs/shop/web", { kind: "object", resource: "services", group: "", rest: ["shop", "web"] }],
    ["/registry/services/endpoints/shop/web", { kind: "object", resource: "endpoints", group: "", rest: ["shop", "web"] }],
    ["/registry/minions/node-1", { kind: "object", resource: "nodes", group: "", rest: ["node-1"] }],
    ["/registry/controllers/shop/rc", { kind: "object", resource: "replicationcontrollers", group: "", rest: ["shop", "rc"] }],
    ["/registry/ingress/shop/web", { kind: "object", resource: "ingresses", group: "networking.k8s.io", rest: ["shop", "web"] }],
    ["/registry/clusterroles/admin", { kind: "object", resource: "clusterroles", rest: ["admin"] }],
    ["/registry/apiregistration.k8s.io/apiservices/v1.apps", { kind: "object", resource: "apiservices", group: "apiregistration.k8s.io", rest: ["v1.apps"] }],
    ["/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com", { kind: "object", resource: "customresourcedefinitions", group: "apiextensions.k8s.io", rest: ["widgets.example.com"] }],
    ["/registry/example.com/widgets/shop/w1", { kind: "object", resource: "widgets", group: "example.com", rest: ["shop", "w1"] }],
    ["/registry/example.com/gadgets/g1", { kind: "object", resource: "gadgets", group: "example.com", rest: ["g1"] }],
    ["/registry/ranges/serviceips", { kind: "internal", what: "allocated service IPs and node ports" }],
    ["/registry/masterleases/127.0.0.1", { kind: "internal", what: "apiserver endpoint leases" }],
    // Seen in a real 1.36 apiserver's etcd: Leases of the peer proxy, under no served resource.
    ["/registry/peerserverleases/apiserver-wlv32tlttr4jl3gtroqexyxapa", { kind: "internal", what: "apiserver peer-proxy leases (not served as a resource)" }],
    ["/other/thing", undefined],
  ];
  for (const [key, expected] of cases) it(key, () => assert.deepEqual(parseStorageKey(key), expected));
});

describe("Go's time.Duration text", () => {
  const cases: [bigint, string][] = [
    [0n, "0s"], [1n, "1ns"], [1500n, "1.5µs"], [1_500_000n, "1.5ms"], [1_500_000_000n, "1.5s"], [90_000_000_000n, "1m30s"],
    [7_200_000_000_000n, "2h0m0s"], [3_723_500_000_000n, "1h2m3.5s"], [-5_000_000_000n, "-5s"],
  ];
  for (const [ns, text] of cases) it(`${ns}ns is ${text}`, () => assert.equal(goDuration(ns), text));
});

describe("values encrypted at rest", () => {
  const key = randomBytes(32);
  const config = `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aescbc: { keys: [{ name: key1, secret: ${key.toString("base64")} }] }
      - aesgcm: { keys: [{ name: g1, secret: ${key.subarray(0, 16).toString("base64")} }] }
      - kms: { apiVersion: v2, name: vault }
      - identity: {}
`;
  const keys = parseEncryptionConfig(config, "enc.yaml");

  it("reads the envelope: provider, version and key name, never the payload as text", () => {
    const value = Buffer.concat([Buffer.from("k8s:enc:aescbc:v1:key1:"), randomBytes(48)]);
    const env = encryptedEnvelope(value)!;
    assert.deepEqual([env.provider, env.version, env.keyName, env.payload.length], ["aescbc", "v1", "key1", 48]);
    assert.equal(encryptedEnvelope(Buffer.from("k8s\0plain")), undefined);
    const kms = decodeStoredValue("/registry/secrets/a/b", Buffer.concat([Buffer.from("k8s:enc:kms:v2:vault:"), randomBytes(40)]), { keys });
    assert.deepEqual(kms, { state: "encrypted", provider: "kms", version: "v2", keyName: "vault" });
  });

  it("decrypts aescbc (IV, then PKCS#7-padded CBC) with the configured key", () => {
    const iv = randomBytes(16);
    const c = createCipheriv("aes-256-cbc", key, iv);
    const value = Buffer.concat([Buffer.from("k8s:enc:aescbc:v1:key1:"), iv, c.update('{"apiVersion":"v1"}'), c.final()]);
    assert.equal(decryptLocal(encryptedEnvelope(value)!, keys, "/registry/secrets/a/b")!.toString(), '{"apiVersion":"v1"}');
  });

  it("decrypts aesgcm only under the etcd key it was written for (authenticated data)", () => {
    const nonce = randomBytes(12);
    const c = createCipheriv("aes-128-gcm", key.subarray(0, 16), nonce);
    c.setAAD(Buffer.from("/registry/secrets/a/b"));
    const body = Buffer.concat([c.update("hello"), c.final()]);
    const value = Buffer.concat([Buffer.from("k8s:enc:aesgcm:v1:g1:"), nonce, body, c.getAuthTag()]);
    assert.equal(decryptLocal(encryptedEnvelope(value)!, keys, "/registry/secrets/a/b")!.toString(), "hello");
    assert.throws(() => decryptLocal(encryptedEnvelope(value)!, keys, "/registry/secrets/other/b"), DecryptionError);
  });

  it("opens a NaCl secretbox made by golang.org/x/crypto/nacl/secretbox v0.58.0 (what the apiserver uses)", () => {
    // Produced by secretbox.Seal with key[i]=7i, nonce[i]=100+i; 100 bytes of message span two Salsa20 blocks.
    const k = Buffer.from("AAcOFRwjKjE4P0ZNVFtiaXB3foWMk5qhqK+2vcTL0tk=", "base64");
    const nonce = Buffer.from("ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7", "base64");
    const box = Buffer.from("YSnElfhhoFcAyUeYt5MQVtxYFuzhWgiDW9APniD6aaNTsV4wcm49kRBYR0v15U/lfmbHhV2oC1TJX0RpP9e36b5/0C0qfNFcVsbJJ+s6NOm1zTc1wukTDsXdUvcqSPrw/kKClguRNCcWhp3HSpIbXQnd", "base64");
    const msg = Buffer.from("azhzACBhIHNlY3JldCB2YWx1ZSB0aGF0IHNwYW5zIG1vcmUgdGhhbiBvbmUgc2l4dHktZm91ciBieXRlIHNhbHNhIGJsb2NrLCB0byBjaGVjayB0aGUgY291bnRlciAuLi4=", "base64");
    assert.deepEqual(secretboxOpen(box, nonce, k), msg);
    const tampered = Buffer.from(box);
    tampered[40]! ^= 1;
    assert.equal(secretboxOpen(tampered, nonce, k), undefined);
  });

  it("a value whose key is not configured stays reported as encrypted", () => {
    const value = Buffer.concat([Buffer.from("k8s:enc:aescbc:v1:old-key:"), randomBytes(48)]);
    assert.deepEqual(decodeStoredValue("/registry/secrets/a/b", value, { keys }), { state: "encrypted", provider: "aescbc", version: "v1", keyName: "old-key" });
  });

  it("a wrong key is a typed error naming the object and key", () => {
    const other = parseEncryptionConfig(config.replace(key.toString("base64"), randomBytes(32).toString("base64")), "other.yaml");
    const iv = randomBytes(16);
    const c = createCipheriv("aes-256-cbc", key, iv);
    const value = Buffer.concat([Buffer.from("k8s:enc:aescbc:v1:key1:"), iv, c.update("x".repeat(40)), c.final()]);
    assert.throws(() => decryptLocal(encryptedEnvelope(value)!, other, "/registry/secrets/a/b"), (e: unknown) => e instanceof DecryptionError && /secrets\/a\/b/.test(e.message) && /key1/.test(e.message));
  });

  it("refuses configurations that are not EncryptionConfigurations, or keys of the wrong size", () => {
    assert.throws(() => parseEncryptionConfig("kind: Secret\n", "x.yaml"), EncryptionConfigError);
    assert.throws(() => parseEncryptionConfig(config.replace(key.toString("base64"), "c2hvcnQ="), "x.yaml"), /5 bytes/);
    assert.throws(() => parseEncryptionConfig(": : :", "x.yaml"), EncryptionConfigError);
  });

  it("values that are neither protobuf nor JSON are reported, not printed", () => {
    const v = decodeStoredValue("/registry/x/y", randomBytes(50));
    assert.equal(v.state, "undecodable");
  });
});

describe("why a Velero backup misses an object", () => {
  const obj = (o: Partial<CoverageObject>): CoverageObject => ({ groupResource: "configmaps", resource: "configmaps", namespace: "shop", name: "a", labels: {}, decoded: true, ...o });
  const cases: [string, Partial<CoverageObject>, BackupFilters, string][] = [
    ["events are never backed up by design", { groupResource: "events", resource: "events" }, {}, "never-backed-up"],
    ["nodes too", { groupResource: "nodes", resource: "nodes", namespace: "" }, {}, "never-backed-up"],
    ["the exclude label", { labels: { "velero.io/exclude-from-backup": "true" } }, {}, "excluded-by-label"],
    ["a namespace not included", {}, { includedNamespaces: ["web"] }, "excluded-namespace"],
    ["a namespace excluded by glob", { namespace: "kube-public" }, { excludedNamespaces: ["kube-*"] }, "excluded-namespace"],
    ["an excluded resource", {}, { excludedResources: ["configmaps"] }, "excluded-resource"],
    ["new-style namespaced exclusion", {}, { excludedNamespaceScopedResources: ["configmaps"] }, "excluded-resource"],
    ["cluster-scoped in a namespace-limited backup (auto)", { groupResource: "clusterroles.rbac.authorization.k8s.io", resource: "clusterroles", namespace: "" }, { includedNamespaces: ["shop"] }, "cluster-scoped-not-included"],
    ["cluster-scoped with includeClusterResources false", { groupResource: "storageclasses.storage.k8s.io", resource: "storageclasses", namespace: "" }, { includeClusterResources: false }, "cluster-scoped-not-included"],
    ["namespaces themselves are not cluster-scoped-filtered", { groupResource: "namespaces", resource: "namespaces", namespace: "", name: "shop" }, { includedNamespaces: ["shop"] }, "unexplained"],
    ["a label selector that does not match", { labels: { app: "db" } }, { labelSelector: { matchLabels: { app: "web" } } }, "label-selector"],
    ["or-selectors: one matching is enough", { labels: { app: "db" } }, { orLabelSelectors: [{ matchLabels: { app: "web" } }, { matchExpressions: [{ key: "app", operator: "In", values: ["db"] }] }] }, "unexplained"],
    ["created after the backup started", { creationTimestamp: "2026-12-04T10:00:05Z" }, { startTimestamp: "2026-12-04T10:00:00Z" }, "created-after-backup-started"],
    ["created before, nothing explains it", { creationTimestamp: "2026-12-04T09:00:00Z" }, { startTimestamp: "2026-12-04T10:00:00Z" }, "unexplained"],
    ["an encrypted value is not judged by labels", { decoded: false }, { labelSelector: { matchLabels: { app: "web" } } }, "unexplained"],
  ];
  for (const [name, o, f, reason] of cases) it(name, () => assert.equal(whyMissing(obj(o), f), reason));
});

describe("decoding stored protobuf values", () => {
  // A hand-written protobuf encoder: the inputs below are what the apiserver writes, and some it never would.
  const varint = (n: bigint): number[] => {
    const out: number[] = [];
    let v = BigInt.asUintN(64, n);
    do {
      out.push(Number(v & 0x7fn) | (v > 0x7fn ? 0x80 : 0));
      v >>= 7n;
    } while (v > 0n);
    return out;
  };
  const bytesField = (n: number, body: Buffer | string) => {
    const b = Buffer.from(body);
    return Buffer.from([...varint(BigInt(n * 8 + 2)), ...varint(BigInt(b.length)), ...b]);
  };
  const intField = (n: number, v: bigint) => Buffer.from([...varint(BigInt(n * 8)), ...varint(v)]);
  const stored = (apiVersion: string, kind: string, raw: Buffer) =>
    Buffer.concat([Buffer.from("k8s\0", "latin1"), bytesField(1, Buffer.concat([bytesField(1, apiVersion), bytesField(2, kind)])), bytesField(2, raw)]);
  const meta = (extra: Buffer = Buffer.alloc(0)) => bytesField(1, Buffer.concat([bytesField(1, "settings"), bytesField(3, "shop"), extra]));

  it("a ConfigMap: names, map entries, an unset creationTimestamp left out (omitzero)", () => {
    const entry = bytesField(2, Buffer.concat([bytesField(1, "mode"), bytesField(2, "fast")]));
    const v = decodeStoredValue("/registry/configmaps/shop/settings", stored("v1", "ConfigMap", Buffer.concat([meta(), entry])));
    assert.equal(v.state, "object");
    assert.deepEqual(v.state === "object" && v.object, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings", namespace: "shop" }, data: { mode: "fast" } });
  });

  it("times are RFC 3339 in UTC, whole seconds for Time", () => {
    const ts = bytesField(8, intField(1, 1_790_000_000n));
    const v = decodeStoredValue("/registry/configmaps/shop/settings", stored("v1", "ConfigMap", meta(ts)));
    assert.equal(v.state === "object" && v.object.metadata.creationTimestamp, "2026-09-21T14:13:20Z");
  });

  it("an integer beyond 2^53 is reported with its field, never rounded", () => {
    const v = decodeStoredValue("/registry/configmaps/shop/settings", stored("v1", "ConfigMap", meta(intField(7, 2n ** 60n + 1n))));
    assert.equal(v.state, "undecodable");
    assert.match(v.state === "undecodable" ? v.reason : "", /metadata\.generation: integer 1152921504606846977 is beyond 2\^53/);
  });

  it("a truncated value, an unknown type and a wrong wire type are undecodable, with the reason", () => {
    const whole = stored("v1", "ConfigMap", meta());
    assert.equal(decodeStoredValue("/registry/x/y", whole.subarray(0, whole.length - 3)).state, "undecodable");
    const unknown = decodeStoredValue("/registry/x/y", stored("foo.example/v9", "Thing", meta()));
    assert.match(unknown.state === "undecodable" ? unknown.reason : "", /no protobuf definition for foo\.example\/v9 Thing/);
    const wrongWire = decodeStoredValue("/registry/x/y", stored("v1", "ConfigMap", intField(1, 5n)));
    assert.match(wrongWire.state === "undecodable" ? wrongWire.reason : "", /metadata: expected an embedded/);
  });
});
