// An item action that fails must not cost the item. Velero leaves out of the backup (or the restore) every item
// whose action returned an error; for twinsnap's actions, which only clean and order, the item as Velero gave it
// is worth more than no item. So a failure is logged at error level — Velero counts it, the backup ends
// PartiallyFailed with the message naming the action, the item and the reason — and the item goes on unchanged.
import type { Logger } from "../log/logger.js";
import { objectRef, type KubeObject } from "../manifest/object.js";
import type { ItemAction } from "./action.js";

export function keepItemOnFailure<A extends ItemAction>(action: A, log: Logger): A {
  const execute = action.execute as (input: { item: KubeObject }) => Promise<{ item: KubeObject }>;
  return {
    ...action,
    async execute(input: { item: KubeObject }) {
      try {
        return await execute(input);
      } catch (err) {
        log.error(`${action.name} failed on ${objectRef(input.item)}: ${(err as Error)?.message ?? String(err)}; the item is kept as Velero gave it, without this action's changes`);
        return { item: input.item };
      }
    },
  };
}
