// The AWS shared credentials file (what `velero install --secret-file` stores in the Secret cloud-credentials):
// INI sections named by profile, `[default]` or `[profile name]` (Velero passes the file as config file too).
// Pure: the text comes from a file the entry point read or from a Secret.
import type { StaticCredentials } from "./s3-options.js";

export class CredentialsFileError extends Error {
  override readonly name = "CredentialsFileError";
  constructor(
    /** Where the text came from: a path or "Secret velero/cloud-credentials key cloud". */
    readonly source: string,
    readonly profile: string,
    message: string,
  ) {
    super(`${source}, profile "${profile}": ${message}`);
  }
}

/** Every profile's keys, lower-cased. */
export function parseIni(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[\s*(?:profile\s+)?([^\]]+?)\s*\]$/.exec(line);
    if (header) {
      current = sections.get(header[1]!) ?? new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf("=");
    if (eq > 0 && current) current.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  }
  return sections;
}

export function credentialsFromFile(text: string, profile: string, source: string): StaticCredentials {
  const sections = parseIni(text);
  const section = sections.get(profile);
  if (!section) {
    const names = [...sections.keys()];
    throw new CredentialsFileError(source, profile, `no such profile (${names.length ? `it has ${names.join(", ")}` : "it holds no profile at all; expected lines like [default] / aws_access_key_id = ..."})`);
  }
  const accessKeyId = section.get("aws_access_key_id");
  const secretAccessKey = section.get("aws_secret_access_key");
  if (!accessKeyId || !secretAccessKey) {
    const other = ["role_arn", "credential_process", "sso_session", "web_identity_token_file"].filter((k) => section.has(k));
    throw new CredentialsFileError(
      source,
      profile,
      `needs aws_access_key_id and aws_secret_access_key${other.length ? ` (it uses ${other.join(", ")}, which twinsnap does not read from a file: give static keys, or leave credentials out to use the default AWS chain, e.g. IAM roles for service accounts)` : ""}`,
    );
  }
  const sessionToken = section.get("aws_session_token");
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}
