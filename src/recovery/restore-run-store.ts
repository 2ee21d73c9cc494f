// Reading and writing a restore run's state in the store, beside the pair record (restores/<backup uid>.json).
import { Readable } from "node:stream";
import type { ObjectStore } from "../store/object-store.js";
import type { PairRecord } from "../pairs/pair-record.js";
import { parseRunState, restoreRunKey, type RestoreRunState } from "./restore-run-state.js";

export async function readRunState(store: ObjectStore, pair: PairRecord, veleroNamespace: string): Promise<RestoreRunState | undefined> {
  const key = restoreRunKey(pair.backup.uid);
  if (!(await store.head(key))) return undefined;
  const chunks: Buffer[] = [];
  for await (const c of await store.get(key)) chunks.push(c as Buffer);
  return parseRunState(Buffer.concat(chunks).toString("utf8"), { name: pair.backup.name, uid: pair.backup.uid }, veleroNamespace);
}

export async function writeRunState(store: ObjectStore, state: RestoreRunState): Promise<void> {
  await store.put(restoreRunKey(state.backup.uid), Readable.from([`${JSON.stringify(state, null, 2)}\n`]));
}
