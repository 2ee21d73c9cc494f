// Reading and writing pair records in a store.
import { Readable } from "node:stream";
import type { ObjectStore } from "../store/object-store.js";
import { DamagedRecordError, pairKey, parsePairRecord, type PairRecord } from "./pair-record.js";

async function readText(store: ObjectStore, key: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of await store.get(key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** The record of backup `uid`, undefined if there is none; a damaged one rejects with DamagedRecordError. */
export async function readPairRecord(store: ObjectStore, uid: string): Promise<PairRecord | undefined> {
  if (!(await store.head(pairKey(uid)))) return undefined;
  return parsePairRecord(await readText(store, pairKey(uid)), pairKey(uid));
}

export async function writePairRecord(store: ObjectStore, record: PairRecord): Promise<void> {
  await store.put(pairKey(record.backup.uid), Readable.from([`${JSON.stringify(record, null, 2)}\n`]));
}

/** Every pair record in the store, oldest backup first. A damaged record is reported, not skipped silently. */
export async function listPairRecords(store: ObjectStore): Promise<{ records: PairRecord[]; damaged: { key: string; error: string }[] }> {
  const records: PairRecord[] = [];
  const damaged: { key: string; error: string }[] = [];
  for (const key of await store.list("pairs")) {
    if (!key.endsWith(".json")) continue;
    try {
      records.push(parsePairRecord(await readText(store, key), key));
    } catch (err) {
      // Damaged (or gone between list and read): reported with its key; the others are listed as usual.
      damaged.push({ key, error: err instanceof DamagedRecordError ? err.problem : (err as Error).message });
    }
  }
  records.sort((a, b) => (a.backup.startTimestamp ?? a.updatedAt).localeCompare(b.backup.startTimestamp ?? b.updatedAt));
  return { records, damaged };
}

/** A record by backup name or uid; the newest when several backups had the name (a re-created Backup). */
export async function findPairRecord(store: ObjectStore, nameOrUid: string): Promise<PairRecord | undefined> {
  // Asked for by uid, a damaged record is an error naming its key, not "no record".
  const direct = /^[0-9a-f-]{36}$/.test(nameOrUid) ? await readPairRecord(store, nameOrUid) : undefined;
  if (direct) return direct;
  const { records } = await listPairRecords(store);
  return records.filter((r) => r.backup.name === nameOrUid).at(-1);
}
