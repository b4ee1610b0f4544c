// The checkpointer's operations on `node:diagnostics_channel` tracing channels, as undici publishes
// its requests: an app subscribes to turn them into spans, metrics or logs; nothing here knows of
// any of those. With no subscriber, an operation costs one `hasSubscribers` check.
import { tracingChannel, type TracingChannel } from "node:diagnostics_channel";

/** The storage engine's operations, each on the tracing channel `checkpointer:<operation>`. */
export const CHECKPOINTER_OPERATIONS = [
  "save",
  "load",
  "exists",
  "getMetadata",
  "listCheckpoints",
  "listThreads",
  "listWithMetadata",
  "queryByMetadata",
  "search",
  "copyThread",
  "delete",
  "vacuum",
  // The turn log's (turn-log.ts).
  "beginTurn",
  "appendTurn",
  "finishTurn",
  "readTurn",
  "interruptTurn",
  "cancelTurn",
  "sweepTurns",
] as const;
export type CheckpointerOperation = (typeof CHECKPOINTER_OPERATIONS)[number];

/**
 * The message of one operation, the same object on its `start`, `end`, `asyncStart`, `asyncEnd`
 * and `error` events. The engine fills in the save's fields while it runs; the channel adds
 * `result` (what the operation returned) or `error` (what it threw: a `CheckpointerError`, whose
 * `code` says why).
 */
export interface CheckpointerOperationMessage {
  operation: CheckpointerOperation;
  /** The database: `mysql` or `sqlite`. */
  store: "mysql" | "sqlite";
  /** The thread as stored (absent for operations over many threads). */
  threadId?: string | undefined;
  /** The turn log's operations: the turn. */
  turnId?: string | undefined;
  /** The checkpoint named by the call, or written by a save. */
  checkpointId?: string | undefined;
  /** save: the state's bytes as written (the delta's, or the whole document's), 0 when nothing was written. */
  bytesWritten?: number;
  /** save: `delta` (a splice of the parent), `snapshot` (the whole document) or `none` (a retry of a save already stored). */
  kind?: "delta" | "snapshot" | "none";
  /** save: deltas between the checkpoint written and the snapshot it is rebuilt from (0 for a snapshot); load: the same for the checkpoint read. */
  chainLength?: number;
  /** save: the compare-and-set failed (another writer saved the thread first); `error` is then a CONFLICT. */
  conflict?: boolean;
  result?: unknown;
  error?: unknown;
}

const channels = new Map<CheckpointerOperation, TracingChannel<object, CheckpointerOperationMessage>>(
  CHECKPOINTER_OPERATIONS.map((operation) => [operation, tracingChannel(`checkpointer:${operation}`)]),
);

/** The tracing channel of one operation (`checkpointer:<operation>`): subscribe to it, or bind a store to its `start`. */
export function checkpointerChannel(operation: CheckpointerOperation): TracingChannel<object, CheckpointerOperationMessage> {
  return channels.get(operation)!;
}

/**
 * Runs `work` as the operation `message` describes, published on its channel when anyone listens.
 * `work` receives the message to fill in what it learns (bytes written, …).
 */
export function traced<T>(message: CheckpointerOperationMessage, work: (message: CheckpointerOperationMessage) => Promise<T>): Promise<T> {
  const channel = channels.get(message.operation)!;
  if (!channel.hasSubscribers) return work(message);
  return channel.tracePromise(work, message, undefined, message);
}
