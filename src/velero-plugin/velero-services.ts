// Velero's plugin services (PluginLister, BackupItemAction v1/v2, RestoreItemAction v1/v2) as one generic mux:
// decode the request, find the action by the request's `plugin` name, call it with plain objects, encode the
// result. This is the only place where thrown errors become gRPC status, so no action ever sees the wire and
// no exception ever escapes to kill the process.
import { GrpcStatus, type GrpcServer, type GrpcStatusCode, type ServiceError, type UnaryHandler } from "../grpc/grpc-server.js";
import { Services } from "../grpc/services.js";
import type { OperationProgress, ResourceIdentifier, ResourceSelector, VeleroObject } from "../actions/action.js";
import { UnknownOperationError } from "../actions/action.js";
import type { Logger } from "../log/logger.js";
import { asKubeObject, InvalidObjectError, isPlainObject, objectRef, type KubeObject } from "../manifest/object.js";
import { keepNumbersOf, stringifyJsonText } from "../manifest/json-text.js";
import { PluginNotFoundError, type ActionRegistry, type ListedApi } from "./registry.js";
import {
  type WireAppliesToRequest,
  type WireBackupExecuteRequest,
  type WireBackupProgressRequest,
  type WireItemsReadyRequest,
  type WireOperationProgress,
  type WireResourceIdentifier,
  type WireResourceSelector,
  type WireRestoreExecuteRequest,
  type WireRestoreProgressRequest,
} from "../grpc/wire.js";

/** A request whose bytes are not what Velero sends: reported as INVALID_ARGUMENT. */
export class InvalidRequestError extends Error {
  override readonly name = "InvalidRequestError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** An action threw: reported with the action's and the item's names so the Velero log says where. */
export class ActionFailedError extends Error {
  override readonly name = "ActionFailedError";
  constructor(
    readonly action: string,
    readonly item: string,
    options: { cause: unknown },
  ) {
    super(`${action} failed on ${item}: ${messageOf(options.cause)}`, options);
  }
}

export interface VeleroServicesOptions {
  registry: ActionRegistry;
  /** The path Velero ran, reported by ListPlugins (Velero starts that command again for each action). */
  command: string;
  listedApi: ListedApi;
  log: Logger;
}

export function addVeleroServices(server: GrpcServer, opts: VeleroServicesOptions): void {
  const { registry, log } = opts;
  const decodeVeleroObject = veleroObjectDecoder();
  const unary = <Req, Res>(method: string, fn: (req: Req) => Promise<Res>) => unaryHandler(log, method, fn);

  server.addService(Services.PluginLister, {
    ListPlugins: unary("ListPlugins", async () => ({ plugins: registry.list(opts.command, opts.listedApi) })),
  });

  const backupAppliesTo = unary("BackupItemAction.AppliesTo", async (req: WireAppliesToRequest) => ({
    ResourceSelector: toWireSelector(registry.backupAction(req.plugin).appliesTo()),
  }));
  const backupExecute = async (req: WireBackupExecuteRequest) => {
    const action = registry.backupAction(req.plugin);
    const item = decodeItem(req.item, "item");
    if (item instanceof UnprocessableItem) return { item: keptAsSent(req.item, item, action.name, log), additionalItems: [], operationID: "", postOperationItems: [] };
    const backup = decodeVeleroObject(req.backup, "backup");
    const out = await guarded(action.name, item, () => action.execute({ item, backup }));
    return {
      item: encodeItem(req.item, item, out.item, action.name, log),
      additionalItems: (out.additionalItems ?? []).map(toWireIdentifier),
      operationID: out.operationId ?? "",
      postOperationItems: (out.postOperationItems ?? []).map(toWireIdentifier),
    };
  };
  server.addService(Services.BackupItemActionV1, {
    AppliesTo: backupAppliesTo,
    Execute: unary("BackupItemAction.Execute", async (req: WireBackupExecuteRequest) => {
      const { item, additionalItems } = await backupExecute(req);
      return { item, additionalItems };
    }),
  });
  server.addService(Services.BackupItemActionV2, {
    AppliesTo: backupAppliesTo,
    Execute: unary("BackupItemActionV2.Execute", backupExecute),
    Progress: unary("BackupItemActionV2.Progress", async (req: WireBackupProgressRequest) => {
      const action = registry.backupAction(req.plugin);
      if (!action.progress) throw new UnknownOperationError(action.name, req.operationID);
      return { progress: toWireProgress(await action.progress(req.operationID, decodeVeleroObject(req.backup, "backup"))) };
    }),
    Cancel: unary("BackupItemActionV2.Cancel", async (req: WireBackupProgressRequest) => {
      const action = registry.backupAction(req.plugin);
      if (!action.cancel) throw new UnknownOperationError(action.name, req.operationID);
      await action.cancel(req.operationID, decodeVeleroObject(req.backup, "backup"));
      return {};
    }),
  });

  const restoreAppliesTo = unary("RestoreItemAction.AppliesTo", async (req: WireAppliesToRequest) => ({
    ResourceSelector: toWireSelector(registry.restoreAction(req.plugin).appliesTo()),
  }));
  const restoreExecute = async (req: WireRestoreExecuteRequest) => {
    const action = registry.restoreAction(req.plugin);
    const item = decodeItem(req.item, "item");
    const fromBackup = req.itemFromBackup.length > 0 ? decodeItem(req.itemFromBackup, "itemFromBackup") : item;
    if (item instanceof UnprocessableItem || fromBackup instanceof UnprocessableItem) {
      const reason = item instanceof UnprocessableItem ? item : (fromBackup as UnprocessableItem);
      return { item: keptAsSent(req.item, reason, action.name, log), additionalItems: [], skipRestore: false, operationID: "", waitForAdditionalItems: false, additionalItemsReadyTimeout: null };
    }
    const itemFromBackup = fromBackup;
    const restore = decodeVeleroObject(req.restore, "restore");
    const out = await guarded(action.name, item, () => action.execute({ item, itemFromBackup, restore }));
    const timeoutMs = out.additionalItemsReadyTimeoutMs;
    return {
      item: encodeItem(req.item, item, out.item, action.name, log),
      additionalItems: (out.additionalItems ?? []).map(toWireIdentifier),
      skipRestore: out.skipRestore === true,
      operationID: out.operationId ?? "",
      waitForAdditionalItems: out.waitForAdditionalItems === true,
      additionalItemsReadyTimeout:
        timeoutMs === undefined ? null : { seconds: String(Math.floor(timeoutMs / 1000)), nanos: (timeoutMs % 1000) * 1e6 },
    };
  };
  server.addService(Services.RestoreItemActionV1, {
    AppliesTo: restoreAppliesTo,
    Execute: unary("RestoreItemAction.Execute", async (req: WireRestoreExecuteRequest) => {
      const { item, additionalItems, skipRestore } = await restoreExecute(req);
      return { item, additionalItems, skipRestore };
    }),
  });
  server.addService(Services.RestoreItemActionV2, {
    AppliesTo: restoreAppliesTo,
    Execute: unary("RestoreItemActionV2.Execute", restoreExecute),
    Progress: unary("RestoreItemActionV2.Progress", async (req: WireRestoreProgressRequest) => {
      const action = registry.restoreAction(req.plugin);
      if (!action.progress) throw new UnknownOperationError(action.name, req.operationID);
      return { progress: toWireProgress(await action.progress(req.operationID, decodeVeleroObject(req.restore, "restore"))) };
    }),
    Cancel: unary("RestoreItemActionV2.Cancel", async (req: WireRestoreProgressRequest) => {
      const action = registry.restoreAction(req.plugin);
      if (!action.cancel) throw new UnknownOperationError(action.name, req.operationID);
      await action.cancel(req.operationID, decodeVeleroObject(req.restore, "restore"));
      return {};
    }),
    AreAdditionalItemsReady: unary("RestoreItemActionV2.AreAdditionalItemsReady", async (req: WireItemsReadyRequest) => {
      const action = registry.restoreAction(req.plugin);
      if (!action.areAdditionalItemsReady) return { ready: true };
      const restore = decodeVeleroObject(req.restore, "restore");
      const items = req.additionalItems.map(fromWireIdentifier);
      return { ready: await guarded(action.name, undefined, () => action.areAdditionalItemsReady!(items, restore)) };
    }),
  });
}

// ---- the one translation of errors into gRPC status ----

function unaryHandler<Req, Res>(log: Logger, method: string, fn: (req: Req) => Promise<Res>): UnaryHandler<Req, Res> {
  return (call, callback) => {
    let pending: Promise<Res>;
    try {
      pending = fn(call.request);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (res) => callback(null, res),
      (err: unknown) => callback(toServiceError(err, method, log)),
    );
  };
}

export function grpcCodeFor(err: unknown): GrpcStatusCode {
  if (err instanceof PluginNotFoundError || err instanceof UnknownOperationError) return GrpcStatus.NOT_FOUND;
  if (err instanceof InvalidRequestError) return GrpcStatus.INVALID_ARGUMENT;
  return GrpcStatus.UNKNOWN;
}

function toServiceError(err: unknown, method: string, log: Logger): ServiceError {
  const code = grpcCodeFor(err);
  const details = messageOf(err);
  // Velero records the failed call as an item error itself; warn here so the count is not doubled.
  log.warn("request failed", { method, code: Object.keys(GrpcStatus).find((k) => GrpcStatus[k as keyof typeof GrpcStatus] === code), error: details });
  if (err instanceof Error && err.cause instanceof Error && err.cause.stack) log.debug("cause", { stack: err.cause.stack });
  return { code, details };
}

async function guarded<T>(action: string, item: KubeObject | undefined, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw new ActionFailedError(action, item ? objectRef(item) : "additional items", { cause: err });
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---- bytes <-> plain objects ----

function decodeJson(bytes: Buffer, field: string, refine?: (text: string, fast: unknown) => unknown): unknown {
  const text = bytes.toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const preview = bytes.subarray(0, 60).toString("utf8");
    throw new InvalidRequestError(`${field} is not valid JSON (${messageOf(err)}); it starts with ${JSON.stringify(preview)}`, { cause: err });
  }
  if (!refine) return value;
  try {
    return refine(text, value);
  } catch (err) {
    throw new UnprocessableItem(field, err, value);
  }
}

/**
 * Valid JSON that twinsnap cannot read without changing it (e.g. numbers beyond 2^53 nested deeper than the
 * lossless reader goes). Not Velero's fault and not worth the item: the reply carries the bytes Velero sent.
 */
class UnprocessableItem {
  constructor(
    readonly field: string,
    readonly cause: unknown,
    /** What JSON.parse made of it, to name the object in the log. */
    readonly parsed?: unknown,
  ) {}
}

/** Items keep every number's text (json-text.ts): a custom resource's int64 must not become a float. */
function decodeItem(bytes: Buffer, field: string): KubeObject | UnprocessableItem {
  if (bytes.length === 0) throw new InvalidRequestError(`${field} is empty`);
  let value: unknown;
  try {
    value = decodeJson(bytes, field, keepNumbersOf);
  } catch (err) {
    if (err instanceof UnprocessableItem) return err;
    throw err;
  }
  try {
    return asKubeObject(value);
  } catch (err) {
    if (err instanceof InvalidObjectError) throw new InvalidRequestError(`${field}: ${err.message}`, { cause: err });
    throw err;
  }
}

function keptAsSent(sent: Buffer, why: UnprocessableItem, action: string, log: Logger): Buffer {
  // The message names the object when it has a name: an operator must know which item was kept unstripped.
  let which = `the ${why.field} it was sent`;
  try {
    which = `${objectRef(asKubeObject(why.parsed))}`;
  } catch {
    // not an object with kind and name: "the item it was sent" it stays
  }
  log.error(`${action} could not read ${which} without changing it (${messageOf(why.cause)}); the item is kept as Velero gave it`);
  return sent;
}

/**
 * Velero sends the same Backup (or Restore) with every item of it: parse it once per server, not once per item.
 * The parsed object is shared by every call that sends the same bytes, so it is frozen: no action can change
 * what the next one sees.
 */
function veleroObjectDecoder(): (bytes: Buffer, field: string) => VeleroObject {
  let last: { bytes: Buffer; value: VeleroObject } | undefined;
  return (bytes, field) => {
    if (bytes.length === 0) return {};
    if (last && last.bytes.equals(bytes)) return last.value;
    const value = decodeJson(bytes, field);
    if (!isPlainObject(value)) throw new InvalidRequestError(`${field} must be a JSON object`);
    last = { bytes: Buffer.from(bytes), value: deepFreeze(value) };
    return value;
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * The reply's item. An item the action did not change goes back as the very bytes Velero sent (byte for byte:
 * no re-encoding can alter a number, an escape or the key order). Any failure to encode a changed item (too deep
 * to write, no kind and apiVersion, which Velero refuses even for a skipped item) also sends Velero's bytes back,
 * logged as an error: Velero would otherwise leave the item out.
 */
function encodeItem(sent: Buffer, decoded: KubeObject, item: KubeObject, action: string, log: Logger): Buffer {
  if (item === decoded) return sent;
  try {
    if (!isPlainObject(item) || typeof item.kind !== "string" || typeof item.apiVersion !== "string") {
      throw new Error("the action returned an item without kind and apiVersion");
    }
    return Buffer.from(stringifyJsonText(item));
  } catch (err) {
    log.error(`${action} could not encode its result for ${objectRef(decoded)} (${messageOf(err)}); the item is kept as Velero gave it`);
    return sent;
  }
}

function toWireSelector(sel: ResourceSelector): WireResourceSelector {
  return {
    includedNamespaces: sel.includedNamespaces ?? [],
    excludedNamespaces: sel.excludedNamespaces ?? [],
    includedResources: sel.includedResources ?? [],
    excludedResources: sel.excludedResources ?? [],
    selector: sel.selector ?? "",
  };
}

function toWireIdentifier(id: ResourceIdentifier): WireResourceIdentifier {
  return { group: id.group, resource: id.resource, namespace: id.namespace, name: id.name };
}

function fromWireIdentifier(id: WireResourceIdentifier): ResourceIdentifier {
  return { group: id.group, resource: id.resource, namespace: id.namespace, name: id.name };
}

function toWireProgress(p: OperationProgress): WireOperationProgress {
  const ts = (d: Date | undefined) => (d ? { seconds: String(Math.floor(d.getTime() / 1000)), nanos: (d.getTime() % 1000) * 1e6 } : null);
  return {
    completed: p.completed,
    err: p.error ?? "",
    nCompleted: String(p.completedUnits ?? 0),
    nTotal: String(p.totalUnits ?? 0),
    operationUnits: p.unit ?? "",
    description: p.description ?? "",
    started: ts(p.started),
    updated: ts(p.updated),
  };
}
