// Flags several commands share, declared once: the same name, default and help everywhere.
import { DEFAULT_STORE_URL } from "../store/open-store.js";
import type { Flag } from "./command.js";
import { UsageError } from "./usage-error.js";

export const storeFlag = {
  type: "string",
  value: "URL",
  default: DEFAULT_STORE_URL,
  help: "where pairs and snapshots are: file:///path, s3://bucket/prefix[?region=R&endpoint=URL&forcePathStyle=true&profile=P], or bsl:NAME (Velero's BackupStorageLocation, read through --kubeconfig)",
} as const satisfies Flag;

export const kubeconfigFlag = { type: "string", value: "FILE", help: "the cluster, as kubectl finds it (KUBECONFIG, ~/.kube/config, or in a Pod its service account)" } as const satisfies Flag;
export const contextFlag = { type: "string", value: "NAME", help: "the kubeconfig context to use (default: its current-context)" } as const satisfies Flag;
export const veleroNamespaceFlag = {
  type: "string",
  value: "NAMESPACE",
  default: (env: NodeJS.ProcessEnv) => env.VELERO_NAMESPACE ?? "velero",
  help: "where Velero runs; VELERO_NAMESPACE sets the default",
} as const satisfies Flag;
export const identityFlag = { type: "string", value: "FILE|secret:NS/NAME[/KEY]", multiple: true, help: "an age identity file, or a Secret of the cluster --kubeconfig/--context name, to read encrypted snapshots" } as const satisfies Flag;
export const passphraseFileFlag = { type: "string", value: "FILE|secret:NS/NAME/KEY", multiple: true, help: "the passphrase of a snapshot encrypted with one (age -p), from a file or a Secret's key" } as const satisfies Flag;
export const encryptPassphraseFileFlag = {
  type: "string",
  value: "FILE|secret:NS/NAME/KEY",
  help: "encrypt the snapshot with the passphrase in FILE (age -p; instead of --encrypt-to; one scrypt per snapshot: about a second and 256 MiB)",
} as const satisfies Flag;
export const etcdutlFlag = { type: "string", value: "PATH", help: "the etcdutl binary that checks a snapshot (default: etcdutl on PATH)" } as const satisfies Flag;
export const rulesFlag = { type: "string", value: "FILE", help: "stripping rules to add to or override the built-in ones (YAML)" } as const satisfies Flag;
export const encryptToFlag = { type: "string", value: "age1...", multiple: true, help: "encrypt the snapshot to this age recipient" } as const satisfies Flag;
export const encryptToFileFlag = { type: "string", value: "FILE", multiple: true, help: "encrypt to every recipient listed in FILE (one per line)" } as const satisfies Flag;

/** The cluster flags as a command's options take them. */
export function clusterOptions(values: { kubeconfig?: string | undefined; context?: string | undefined }): { kubeconfig?: string; context?: string } {
  return { ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}), ...(values.context ? { context: values.context } : {}) };
}

/** A comma-separated list flag ("a,b"), or undefined when not given or empty. */
export function listFlag(v: string | undefined): string[] | undefined {
  const list = v ? v.split(",").map((s) => s.trim()).filter(Boolean) : [];
  return list.length ? list : undefined;
}

/** -o: how a command reports. "text" is the human form everywhere ("table" too, where that form is a table). */
export function outputFlag(formats: readonly string[], fallback: string) {
  return { type: "string", short: "o", value: "FORMAT", default: fallback, help: `${formats.join(", ")}` } as const satisfies Flag;
}

export function parseOutput<T extends string>(value: string, formats: readonly T[], flag = "-o"): T {
  const v = value === "text" && formats.includes("table" as T) ? "table" : value === "table" && formats.includes("text" as T) ? "text" : value;
  const found = formats.find((f) => f === v);
  if (!found) throw new UsageError(`${flag} must be ${formats.join(", ")} (got "${value}")`);
  return found;
}

/** --identity and --passphrase-file as a command's options (cli/age-keys.ts reads them). */
export function ageKeyOptions(values: { identity?: string[] | undefined; "passphrase-file"?: string[] | undefined }): { identities?: string[]; passphraseFiles?: string[] } {
  return { ...(values.identity ? { identities: values.identity } : {}), ...(values["passphrase-file"] ? { passphraseFiles: values["passphrase-file"] } : {}) };
}
