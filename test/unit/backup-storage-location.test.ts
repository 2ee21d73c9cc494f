// Velero's BackupStorageLocation -> the S3 store twinsnap writes to, read as velero-plugin-for-aws reads it.
// The BSLs and Secrets are plain objects; the cluster is a map from API path to object.
import assert from "node:assert/strict";
import {
  BackupStorageLocationError,
  credentialsSource,
  resolveBackupStorageLocation,
  s3OptionsFromBackupStorageLocation,
  type BackupStorageLocation,
  type ClusterReader,
} from "../../src/store/backup-storage-location.js";
import { credentialsFromFile } from "../../src/store/aws-credentials-file.js";
import { isS3NotFound, isS3Transient } from "../../src/store/s3-errors.js";
import { s3StoreUrl } from "../../src/store/s3-options.js";
import { parseStoreUrl } from "../../src/store/store-url.js";

const minio: BackupStorageLocation = {
  metadata: { name: "default", namespace: "velero" },
  spec: {
    provider: "aws",
    objectStorage: { bucket: "velero", prefix: "cluster-a" },
    config: { region: "minio", s3ForcePathStyle: "true", s3Url: "http://minio.velero.svc:9000" },
  },
};

const credentialsText = "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s3cr3t\n[backup]\naws_access_key_id = AKIABACKUP\naws_secret_access_key = other\n";
const secret = (data: Record<string, string>) => ({ data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")])) });

/** A cluster holding `objects` by API path; a path in `forbidden` answers 403 as the apiserver does. */
function cluster(objects: Record<string, unknown>, forbidden: string[] = []): ClusterReader & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async get<T>(path: string): Promise<T | undefined> {
      asked.push(path);
      if (forbidden.includes(path)) throw Object.assign(new Error(`GET ${path}: secrets "x" is forbidden`), { status: 403, recoverable: false });
      return objects[path] as T | undefined;
    },
  };
}
const BSL_PATH = "/apis/velero.io/v1/namespaces/velero/backupstoragelocations/default";
const DEFAULT_SECRET = "/api/v1/namespaces/velero/secrets/cloud-credentials";

describe("BackupStorageLocation to S3 store options", () => {
  it("takes bucket, prefix, region, s3Url and s3ForcePathStyle, and writes only under <prefix>/plugins/twinsnap", () => {
    assert.deepEqual(s3OptionsFromBackupStorageLocation(minio, { accessKeyId: "k", secretAccessKey: "s" }), {
      bucket: "velero",
      prefix: "cluster-a/plugins/twinsnap",
      region: "minio",
      endpoint: "http://minio.velero.svc:9000",
      forcePathStyle: true,
      checksumAlgorithm: "CRC32",
      insecureSkipTlsVerify: false,
      credentials: { accessKeyId: "k", secretAccessKey: "s" },
    });
  });

  it("names the store by an s3:// URL that opens it again without the cluster", () => {
    const o = s3OptionsFromBackupStorageLocation(minio, undefined);
    const url = s3StoreUrl(o);
    assert.equal(url, "s3://velero/cluster-a/plugins/twinsnap?region=minio&endpoint=http://minio.velero.svc:9000&forcePathStyle=true");
    assert.deepEqual(parseStoreUrl(url), { kind: "s3", bucket: "velero", prefix: "cluster-a/plugins/twinsnap", region: "minio", endpoint: "http://minio.velero.svc:9000", forcePathStyle: true });
  });

  it("a BSL without prefix: plugins/twinsnap at the bucket's root; velero.io/aws is the same provider", () => {
    const o = s3OptionsFromBackupStorageLocation({ metadata: { name: "aws" }, spec: { provider: "velero.io/aws", objectStorage: { bucket: "b" }, config: { region: "eu-west-1" } } }, undefined);
    assert.equal(o.prefix, "plugins/twinsnap");
    assert.equal(o.region, "eu-west-1");
    assert.equal(o.endpoint, undefined);
    assert.equal(o.credentials, undefined);
  });

  it("checksumAlgorithm, kmsKeyId, serverSideEncryption, insecureSkipTLSVerify and caCert as the AWS plugin reads them", () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const o = s3OptionsFromBackupStorageLocation(
      {
        metadata: { name: "x" },
        spec: { provider: "aws", objectStorage: { bucket: "b", caCert: Buffer.from(pem).toString("base64") }, config: { checksumAlgorithm: "", kmsKeyId: "alias/velero", insecureSkipTLSVerify: "true" } },
      },
      undefined,
    );
    assert.equal(o.checksumAlgorithm, "", "an empty checksumAlgorithm turns checksums off, as in velero-plugin-for-aws");
    assert.equal(o.kmsKeyId, "alias/velero");
    assert.equal(o.insecureSkipTlsVerify, true);
    assert.equal(o.caCert, pem);
    assert.equal(s3OptionsFromBackupStorageLocation({ metadata: { name: "x" }, spec: { provider: "aws", objectStorage: { bucket: "b" }, config: { checksumAlgorithm: "SHA256", serverSideEncryption: "AES256" } } }, undefined).checksumAlgorithm, "SHA256");
  });

  const broken: [string, BackupStorageLocation, RegExp][] = [
    ["another provider", { metadata: { name: "gcp", namespace: "velero" }, spec: { provider: "gcp", objectStorage: { bucket: "b" } } }, /BackupStorageLocation velero\/gcp: its provider is "gcp"; twinsnap's bsl: store supports provider aws/],
    ["no bucket", { metadata: { name: "nob", namespace: "velero" }, spec: { provider: "aws", objectStorage: {} } }, /velero\/nob: spec.objectStorage.bucket is empty/],
    ["a bad s3Url", { metadata: { name: "u", namespace: "velero" }, spec: { provider: "aws", objectStorage: { bucket: "b" }, config: { s3Url: "minio:9000" } } }, /spec.config.s3Url: .*http:\/\//],
    ["a bad boolean", { metadata: { name: "f", namespace: "velero" }, spec: { provider: "aws", objectStorage: { bucket: "b" }, config: { s3ForcePathStyle: "yes please" } } }, /spec.config.s3ForcePathStyle must be "true" or "false"/],
    ["SSE-C", { metadata: { name: "c", namespace: "velero" }, spec: { provider: "aws", objectStorage: { bucket: "b" }, config: { customerKeyEncryptionFile: "/credentials/key" } } }, /customerKeyEncryptionFile is set: customer-provided encryption keys/],
  ];
  for (const [what, bsl, message] of broken) {
    it(`a BSL with ${what} is an error naming it and what to fix`, () => {
      assert.throws(() => s3OptionsFromBackupStorageLocation(bsl, undefined), (e: unknown) => e instanceof BackupStorageLocationError && message.test(e.message) && e.fix.length > 0);
    });
  }

  it("credentials: the BSL's own Secret, else the given file, else Velero's default Secret", () => {
    const withCredential = { ...minio, spec: { ...minio.spec, credential: { name: "bsl-creds", key: "aws" } } };
    assert.deepEqual(credentialsSource(withCredential, "velero", "/given"), { kind: "secret", namespace: "velero", name: "bsl-creds", key: "aws" });
    assert.deepEqual(credentialsSource(minio, "velero", "/given"), { kind: "file", path: "/given" });
    assert.deepEqual(credentialsSource(minio, "velero", undefined), { kind: "secret", namespace: "velero", name: "cloud-credentials", key: "cloud" });
  });
});

describe("resolving bsl:<name> through the cluster", () => {
  it("reads the BSL and Velero's default Secret cloud-credentials (key cloud), with the BSL's profile", async () => {
    const c = cluster({ [BSL_PATH]: { ...minio, spec: { ...minio.spec, config: { ...minio.spec!.config, profile: "backup" } } }, [DEFAULT_SECRET]: secret({ cloud: credentialsText }) });
    const o = await resolveBackupStorageLocation({ client: c, namespace: "velero", name: "default" });
    assert.deepEqual(o.credentials, { accessKeyId: "AKIABACKUP", secretAccessKey: "other" });
    assert.deepEqual(c.asked, [BSL_PATH, DEFAULT_SECRET]);
  });

  it("the Secret named by spec.credential wins over a given credentials file", async () => {
    const path = "/api/v1/namespaces/velero/secrets/bsl-creds";
    const c = cluster({ [BSL_PATH]: { ...minio, spec: { ...minio.spec, credential: { name: "bsl-creds", key: "aws" } } }, [path]: secret({ aws: credentialsText }) });
    const o = await resolveBackupStorageLocation({ client: c, namespace: "velero", name: "default", credentialsFile: { path: "/f", read: async () => assert.fail("not read") } });
    assert.equal(o.credentials?.accessKeyId, "AKIADEFAULT");
  });

  it("without spec.credential a given credentials file is used and the default Secret is not read", async () => {
    const c = cluster({ [BSL_PATH]: minio });
    const o = await resolveBackupStorageLocation({ client: c, namespace: "velero", name: "default", credentialsFile: { path: "/f", read: async () => credentialsText } });
    assert.equal(o.credentials?.accessKeyId, "AKIADEFAULT");
    assert.deepEqual(c.asked, [BSL_PATH]);
  });

  it("no default Secret at all (velero install --no-secret, IAM roles): the default AWS chain", async () => {
    const o = await resolveBackupStorageLocation({ client: cluster({ [BSL_PATH]: minio }), namespace: "velero", name: "default" });
    assert.equal(o.credentials, undefined);
  });

  const failures: [string, ClusterReader, RegExp][] = [
    ["a missing BSL", cluster({}), /BackupStorageLocation velero\/default: does not exist; list them with: kubectl get backupstoragelocations -n velero/],
    ["a BSL of another provider (its Secret is not read)", cluster({ [BSL_PATH]: { ...minio, spec: { ...minio.spec, provider: "azure" } } }, [DEFAULT_SECRET]), /its provider is "azure"/],
    ["a Secret the coordinator may not read", cluster({ [BSL_PATH]: minio }, [DEFAULT_SECRET]), /velero\/default: its credentials Secret velero\/cloud-credentials cannot be read .*forbidden.*; grant get on secrets named cloud-credentials in velero/],
    ["a spec.credential Secret that does not exist", cluster({ [BSL_PATH]: { ...minio, spec: { ...minio.spec, credential: { name: "gone", key: "cloud" } } } }), /spec.credential names Secret velero\/gone, which does not exist; create it/],
    ["a Secret without the key", cluster({ [BSL_PATH]: minio, [DEFAULT_SECRET]: secret({ credentials: credentialsText }) }), /Secret velero\/cloud-credentials has no key "cloud" \(it has credentials\)/],
    ["a profile the file does not have", cluster({ [BSL_PATH]: { ...minio, spec: { ...minio.spec, config: { ...minio.spec!.config, profile: "prod" } } }, [DEFAULT_SECRET]: secret({ cloud: credentialsText }) }), /Secret velero\/cloud-credentials key cloud, profile "prod": no such profile \(it has default, backup\)/],
  ];
  for (const [what, client, message] of failures) {
    it(`${what} is a BackupStorageLocationError naming the BSL and the fix`, async () => {
      await assert.rejects(resolveBackupStorageLocation({ client, namespace: "velero", name: "default" }), (e: unknown) => e instanceof BackupStorageLocationError && e.location === "velero/default" && message.test(e.message));
    });
  }
});

describe("AWS shared credentials files", () => {
  it("reads [name] and [profile name] sections, session tokens, comments", () => {
    const text = "# velero\n[profile ci]\r\naws_access_key_id=A\r\naws_secret_access_key = B \r\naws_session_token = C\r\n; end\n";
    assert.deepEqual(credentialsFromFile(text, "ci", "f"), { accessKeyId: "A", secretAccessKey: "B", sessionToken: "C" });
  });
  it("a profile without static keys says what it uses instead", () => {
    assert.throws(() => credentialsFromFile("[default]\nrole_arn = arn:aws:iam::1:role/x\nweb_identity_token_file = /t\n", "default", "Secret velero/cloud-credentials key cloud"), /needs aws_access_key_id and aws_secret_access_key \(it uses role_arn, web_identity_token_file/);
  });
});

describe("S3 errors", () => {
  const table: [string, unknown, { notFound: boolean; transient: boolean }][] = [
    ["NoSuchKey", { name: "NoSuchKey", $metadata: { httpStatusCode: 404 } }, { notFound: true, transient: false }],
    ["HeadObject's bare 404", { name: "NotFound", $metadata: { httpStatusCode: 404 } }, { notFound: true, transient: false }],
    ["NoSuchBucket (a wrong bucket must not look like an empty store)", { name: "NoSuchBucket", $metadata: { httpStatusCode: 404 } }, { notFound: false, transient: false }],
    ["AccessDenied", { name: "AccessDenied", $metadata: { httpStatusCode: 403 } }, { notFound: false, transient: false }],
    ["a 503 SlowDown", { name: "SlowDown", $metadata: { httpStatusCode: 503 } }, { notFound: false, transient: true }],
    ["a 500", { name: "InternalError", $metadata: { httpStatusCode: 500 } }, { notFound: false, transient: true }],
    ["throttling with a 400", { name: "ThrottlingException", $metadata: { httpStatusCode: 400 } }, { notFound: false, transient: true }],
    ["a refused connection", Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" }), { notFound: false, transient: true }],
    ["a reset wrapped as a cause", new Error("upload failed", { cause: Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }) }), { notFound: false, transient: true }],
    ["a bad request", { name: "InvalidArgument", $metadata: { httpStatusCode: 400 } }, { notFound: false, transient: false }],
  ];
  for (const [what, err, expected] of table) {
    it(`${what}: ${expected.notFound ? "not found" : expected.transient ? "transient" : "permanent"}`, () => {
      assert.deepEqual({ notFound: isS3NotFound(err), transient: isS3Transient(err) }, expected);
    });
  }
});
