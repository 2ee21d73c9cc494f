// --store URLs, and the S3 options an s3:// URL and the environment give. No I/O: plain strings and objects.
import assert from "node:assert/strict";
import { parseStoreUrl, StoreUrlError, type StoreLocation } from "../../src/store/store-url.js";
import { s3UrlOptions, type AwsEnvironment } from "../../src/store/open-store.js";
import { awsEnvironment } from "../../src/cli/cli-store.js";

const parsed: [string, StoreLocation][] = [
  ["file:///var/lib/twinsnap", { kind: "file", path: "/var/lib/twinsnap" }],
  ["/srv/twinsnap", { kind: "file", path: "/srv/twinsnap" }],
  ["s3://backups", { kind: "s3", bucket: "backups", prefix: "", forcePathStyle: false }],
  ["s3://backups/twinsnap/prod/", { kind: "s3", bucket: "backups", prefix: "twinsnap/prod", forcePathStyle: false }],
  [
    "s3://velero-b/tw?region=eu-west-1&endpoint=http://127.0.0.1:9000/&forcePathStyle=true&profile=backup&checksumAlgorithm=sha256",
    { kind: "s3", bucket: "velero-b", prefix: "tw", region: "eu-west-1", endpoint: "http://127.0.0.1:9000", forcePathStyle: true, profile: "backup", checksumAlgorithm: "SHA256" },
  ],
  ["s3://b12/p?checksumAlgorithm=", { kind: "s3", bucket: "b12", prefix: "p", forcePathStyle: false, checksumAlgorithm: "" }],
  ["s3://b12/p?kmsKeyId=arn:aws:kms:eu-west-1:111122223333:key/abc", { kind: "s3", bucket: "b12", prefix: "p", forcePathStyle: false, kmsKeyId: "arn:aws:kms:eu-west-1:111122223333:key/abc" }],
  ["s3://b12/p?serverSideEncryption=AES256", { kind: "s3", bucket: "b12", prefix: "p", forcePathStyle: false, serverSideEncryption: "AES256" }],
  ["bsl:default", { kind: "bsl", name: "default" }],
  ["bsl:aws-eu.2", { kind: "bsl", name: "aws-eu.2" }],
];

const refused: [string, RegExp][] = [
  ["gs://bucket", /expected file:\/\/\/path, s3:\/\/bucket\/prefix or bsl:<name>/],
  ["relative/dir", /expected file:/],
  ["s3://Bad_Bucket/x", /not a valid bucket name/],
  ["s3://bucket:9000/x", /\?endpoint=/],
  ["s3://bucket/a/../b", /"\." or "\.\."/],
  ["s3://bucket/x?regoin=us-east-1", /unknown parameter "regoin" \(known: region, endpoint, forcePathStyle, profile, checksumAlgorithm, kmsKeyId, serverSideEncryption\)/],
  ["s3://bucket/x?serverSideEncryption=rot13", /serverSideEncryption must be AES256 or aws:kms/],
  ["s3://bucket/x?serverSideEncryption=AES256&kmsKeyId=k", /kmsKeyId needs serverSideEncryption aws:kms/],
  ["s3://bucket/%zz", /prefix.*not valid percent-encoding/],
  ["s3://bu cket/x", /not a valid URL|bucket/],
  ["s3://[::1/x", /not a valid URL|bucket/],
  ["s3://bucket/x?region=%E0%A4%A", /not a valid URL|percent/],
  ["file://host/x", /file:\/\/\/absolute\/path/],
  ["file:///a%2fb", /file:\/\/\/absolute\/path/],
  ["s3://bucket/x?forcePathStyle=maybe", /forcePathStyle must be true or false/],
  ["s3://bucket/x?endpoint=127.0.0.1:9000", /must start with http:\/\/ or https:\/\/|is not a URL/],
  ["s3://bucket/x?checksumAlgorithm=MD5", /checksumAlgorithm must be one of CRC32, CRC32C, SHA1, SHA256, CRC64NVME or empty/],
  ["bsl:", /expected bsl:<name/],
  ["bsl:Default", /expected bsl:<name/],
];

describe("store URLs", () => {
  for (const [url, location] of parsed) {
    it(`${url} is ${location.kind}`, () => assert.deepEqual(parseStoreUrl(url), location));
  }
  for (const [url, message] of refused) {
    it(`refuses ${url} with what to write instead`, () => {
      assert.throws(() => parseStoreUrl(url), (e: unknown) => e instanceof StoreUrlError && message.test(e.message) && e.message.includes(url));
    });
  }
});

describe("store URLs generated at random", () => {
  it("every problem is a StoreUrlError naming the part, never a raw TypeError or URIError", () => {
    const pieces = ["s3://", "file://", "bsl:", "/", "//", "%", "%zz", "%E0%A4%A", "?", "&", "=", "#", "[", "]", ":", "@", "bucket", "a b", "..", ".", "region=", "endpoint=", "http://", "kmsKeyId=", "\u0000", "é", "\\"];
    let seed = 13;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) >>> 12;
    for (let i = 0; i < 20000; i++) {
      const url = Array.from({ length: 1 + (next() % 8) }, () => pieces[next() % pieces.length]).join("");
      try {
        parseStoreUrl(url);
      } catch (e) {
        assert.ok(e instanceof StoreUrlError, `${JSON.stringify(url)} threw ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
  });
});

describe("s3:// credentials and region from the environment", () => {
  const file = (path: string, text: string) => ({ path, read: async () => text });
  const missing = (path: string) => ({ path, read: async () => Promise.reject(Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" })) });
  const credentialsFile = "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n\n[profile backup]\naws_access_key_id=BACKUPKEY\naws_secret_access_key=backupsecret\naws_session_token=tok\n";

  it("takes static keys from the environment first, as the AWS default chain does", async () => {
    const aws: AwsEnvironment = { region: "eu-central-1", credentials: { accessKeyId: "ENVKEY", secretAccessKey: "envsecret" }, sharedCredentialsFile: file("/c", credentialsFile) };
    const options = await s3UrlOptions("s3://bucket/p", aws);
    assert.deepEqual(options, { bucket: "bucket", prefix: "p", region: "eu-central-1", forcePathStyle: false, credentials: { accessKeyId: "ENVKEY", secretAccessKey: "envsecret" } });
  });

  it("a profile in the URL reads that profile of the shared credentials file", async () => {
    const options = await s3UrlOptions("s3://bucket/p?profile=backup&region=us-west-2", { credentials: { accessKeyId: "ENVKEY", secretAccessKey: "x" }, sharedCredentialsFile: file("/c", credentialsFile) });
    assert.deepEqual(options.credentials, { accessKeyId: "BACKUPKEY", secretAccessKey: "backupsecret", sessionToken: "tok" });
    assert.equal(options.region, "us-west-2");
  });

  it("AWS_PROFILE picks the profile; without any credentials the SDK's own chain is left to find them", async () => {
    assert.equal((await s3UrlOptions("s3://bucket", { profile: "backup", sharedCredentialsFile: file("/c", credentialsFile) })).credentials?.accessKeyId, "BACKUPKEY");
    const bare = await s3UrlOptions("s3://bucket", { homeCredentialsFile: missing("/home/u/.aws/credentials") });
    assert.equal(bare.credentials, undefined);
    assert.equal(bare.region, "us-east-1");
  });

  it("a missing AWS_SHARED_CREDENTIALS_FILE or profile is an error naming it", async () => {
    await assert.rejects(s3UrlOptions("s3://bucket", { sharedCredentialsFile: missing("/etc/creds") }), /credentials file \/etc\/creds cannot be read/);
    await assert.rejects(s3UrlOptions("s3://bucket?profile=nope", { sharedCredentialsFile: file("/c", credentialsFile) }), /\/c, profile "nope": no such profile \(it has default, backup\)/);
    await assert.rejects(s3UrlOptions("s3://bucket?profile=nope", {}), /needs a shared credentials file \(set AWS_SHARED_CREDENTIALS_FILE\)/);
  });

  it("the entry point reads the AWS variables; nothing else does", () => {
    const aws = awsEnvironment({ AWS_REGION: "ap-south-1", AWS_ACCESS_KEY_ID: "K", AWS_SECRET_ACCESS_KEY: "S", AWS_SESSION_TOKEN: "T", AWS_SHARED_CREDENTIALS_FILE: "/creds", AWS_PROFILE: "p", HOME: "/home/u" });
    assert.equal(aws.region, "ap-south-1");
    assert.deepEqual(aws.credentials, { accessKeyId: "K", secretAccessKey: "S", sessionToken: "T" });
    assert.equal(aws.sharedCredentialsFile?.path, "/creds");
    assert.equal(aws.homeCredentialsFile?.path, "/home/u/.aws/credentials");
    assert.equal(aws.profile, "p");
    assert.equal(awsEnvironment({ AWS_ACCESS_KEY_ID: "only-half" }).credentials, undefined);
  });
});
