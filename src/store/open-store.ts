// Stores by URL: file:///path is the embedded default. (S3 and bsl:<name> come with the coordinator.)
import { fileURLToPath } from "node:url";
import { FilesystemStore } from "./filesystem-store.js";
import type { ObjectStore } from "./object-store.js";

export const DEFAULT_STORE_URL = "file:///var/lib/twinsnap";

export class UnsupportedStoreError extends Error {
  override readonly name = "UnsupportedStoreError";
}

export function openStore(url: string): ObjectStore {
  if (url.startsWith("file://")) return new FilesystemStore(fileURLToPath(url));
  if (url.startsWith("/")) return new FilesystemStore(url);
  throw new UnsupportedStoreError(`store "${url}": only file:// stores are available in this version (S3 and bsl:<name> are planned)`);
}
