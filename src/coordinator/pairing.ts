// What the coordinator does next for one backup, as a table of Velero phases: a pure function of the Backup's
// phase and the pair record so far, so every outcome (including a coordinator restarted mid-way) is decided
// the same way and can be read at a glance.
import type { PairRecord } from "../pairs/pair-record.js";

export type PairingStep =
  | { do: "nothing" }
  | { do: "record-pending" }
  | { do: "snapshot"; timing: "during-backup" | "after-backup"; thenPair: boolean }
  | { do: "mark-paired" }
  | { do: "mark-backup-failed" };

/** Velero's backup phases (pkg/apis/velero/v1/backup_types.go), grouped by what they mean for pairing. */
const NOT_STARTED = new Set(["", "New", "Queued", "ReadyToStart"]);
const RUNNING = new Set(["InProgress", "WaitingForPluginOperations", "WaitingForPluginOperationsPartiallyFailed", "Finalizing", "FinalizingPartiallyFailed"]);
const SUCCEEDED = new Set(["Completed", "PartiallyFailed"]);
const FAILED = new Set(["Failed", "FailedValidation"]);

export function nextPairingStep(phase: string, record: PairRecord | undefined): PairingStep {
  const state = record?.state;
  if (state === "Paired" || state === "BackupFailed" || state === "Failed") return { do: "nothing" };
  const hasSnapshot = record?.snapshot !== undefined || record?.etcd !== undefined;
  if (NOT_STARTED.has(phase)) return record ? { do: "nothing" } : { do: "record-pending" };
  // A snapshot describes the same moment as the backup only if it is taken while the backup runs.
  if (RUNNING.has(phase)) return hasSnapshot ? { do: "nothing" } : { do: "snapshot", timing: "during-backup", thenPair: false };
  if (SUCCEEDED.has(phase)) return hasSnapshot ? { do: "mark-paired" } : { do: "snapshot", timing: "after-backup", thenPair: true };
  if (FAILED.has(phase)) return { do: "mark-backup-failed" };
  return { do: "nothing" }; // Deleting, or a phase from a newer Velero: leave the record as it is
}
