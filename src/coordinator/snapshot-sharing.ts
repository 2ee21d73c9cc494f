// Shared snapshots for bursts (--share-window): backups that Velero starts within the window of a snapshot already
// taken (or being taken) reference that snapshot instead of streaming the whole etcd database again. Pure: the
// coordinator keeps the candidates and asks this function, so every decision can be read from a table.

export type SnapshotTiming = "during-backup" | "after-backup";

/** A snapshot another backup may share: one taken (or being taken) for the backup `takenFor`. */
export interface ShareCandidate {
  key: string;
  takenFor: { name: string; uid: string };
  /** When Velero started `takenFor` (ms since the epoch): the window is measured from here. */
  anchorMs: number;
  timing: SnapshotTiming;
  state: "taking" | "taken";
}

export interface BackupToPair {
  /** When Velero started the backup (status.startTimestamp), if known. */
  startMs: number | undefined;
  /** What its own snapshot would be: taken while it runs, or after it finished (the coordinator was down). */
  timing: SnapshotTiming;
}

export type ShareDecision = { do: "take-own"; why: string } | { do: "share"; snapshot: ShareCandidate; why: string };

/**
 * Share when the backup started within `windowMs` of a candidate's backup (either side: events need not arrive in
 * start order) and the snapshot has the same timing — a backup that runs never gets a snapshot taken after some
 * other backup finished, nor the reverse. The nearest candidate wins; on a tie a finished one, then the earliest.
 */
export function chooseSnapshot(backup: BackupToPair, candidates: readonly ShareCandidate[], windowMs: number): ShareDecision {
  if (windowMs <= 0) return { do: "take-own", why: "sharing is off (--share-window 0)" };
  if (backup.startMs === undefined) return { do: "take-own", why: "the backup has no start time to compare" };
  const start = backup.startMs;
  const fitting = candidates
    .filter((c) => c.timing === backup.timing && Math.abs(c.anchorMs - start) <= windowMs)
    .sort((a, b) => Math.abs(a.anchorMs - start) - Math.abs(b.anchorMs - start) || Number(b.state === "taken") - Number(a.state === "taken") || a.anchorMs - b.anchorMs);
  const chosen = fitting[0];
  if (!chosen) return { do: "take-own", why: `no ${backup.timing} snapshot within ${windowMs / 1000} s of its start` };
  return { do: "share", snapshot: chosen, why: `started ${Math.abs(chosen.anchorMs - start) / 1000} s from ${chosen.takenFor.name}, within the ${windowMs / 1000} s window` };
}
