// The checkpointer's tracing channels (checkpointer/diagnostics.ts) as spans and metrics. The span
// of an operation is the active one while the operation runs, so mysql2's client spans nest under it.
import type { AsyncLocalStorage } from "node:async_hooks";
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Counter, type Histogram, type Span } from "@opentelemetry/api";
// diagnostics.js itself, not the module index, which loads mysql2 (tracing must start before that).
import { CHECKPOINTER_OPERATIONS, checkpointerChannel, type CheckpointerOperationMessage } from "../../checkpointer/diagnostics.js";
import { errorType, TRACER_NAME } from "./genai.js";

export interface CheckpointerInstruments {
  /** `checkpointer.operation.duration`, seconds, by operation, store and (saves) kind. */
  duration: Histogram;
  /** `checkpointer.written`, bytes of state a save wrote, by kind. */
  written: Histogram;
  /** `checkpointer.errors`, by operation and error code. */
  errors: Counter;
}

/** The span's attributes from what the operation published. */
function attributesOf(m: CheckpointerOperationMessage): Attributes {
  return {
    "checkpointer.operation": m.operation,
    "checkpointer.store": m.store,
    ...(m.threadId !== undefined && { "checkpointer.thread_id": m.threadId }),
    ...(m.turnId !== undefined && { "checkpointer.turn_id": m.turnId }),
    ...(m.checkpointId !== undefined && { "checkpointer.checkpoint_id": m.checkpointId }),
    ...(m.bytesWritten !== undefined && { "checkpointer.bytes_written": m.bytesWritten }),
    ...(m.kind !== undefined && { "checkpointer.kind": m.kind }),
    ...(m.chainLength !== undefined && { "checkpointer.chain_length": m.chainLength }),
    ...(m.operation === "save" && { "checkpointer.conflict": m.conflict === true }),
  };
}

/**
 * Subscribes to every operation's channel: spans when `storage` (the context manager's
 * AsyncLocalStorage) is given, metrics when `instruments` are. Returns the unsubscribe.
 */
export function observeCheckpointer(options: { storage?: AsyncLocalStorage<Context> | undefined; instruments?: CheckpointerInstruments | undefined }): () => void {
  const { storage, instruments } = options;
  const spans = new WeakMap<object, Span>();
  const started = new WeakMap<object, number>();
  const tracer = trace.getTracer(TRACER_NAME);
  const undo: (() => void)[] = [];
  for (const operation of CHECKPOINTER_OPERATIONS) {
    const channel = checkpointerChannel(operation);
    if (storage) {
      // The span starts with the operation and is the active one inside it.
      channel.start.bindStore(storage, (message) => {
        const parent = storage.getStore() ?? context.active();
        const span = tracer.startSpan(`checkpointer ${operation}`, { kind: SpanKind.INTERNAL, attributes: attributesOf(message) }, parent);
        spans.set(message, span);
        return trace.setSpan(parent, span);
      });
      undo.push(() => channel.start.unbindStore(storage));
    }
    const handlers = {
      start: (message: CheckpointerOperationMessage) => {
        if (instruments) started.set(message, performance.now());
      },
      end: () => {},
      asyncStart: () => {},
      error: (message: CheckpointerOperationMessage) => {
        const span = spans.get(message);
        const code = errorType(message.error);
        if (span) {
          span.setAttribute("error.type", code);
          span.setStatus({ code: SpanStatusCode.ERROR, message: message.error instanceof Error ? message.error.message : String(message.error) });
        }
        instruments?.errors.add(1, { "checkpointer.operation": operation, "error.type": code });
      },
      asyncEnd: (message: CheckpointerOperationMessage) => {
        const span = spans.get(message);
        if (span) {
          span.setAttributes(attributesOf(message));
          span.end();
        }
        const start = started.get(message);
        if (instruments && start !== undefined) {
          const labels: Attributes = {
            "checkpointer.operation": operation,
            "checkpointer.store": message.store,
            ...(message.kind !== undefined && { "checkpointer.kind": message.kind }),
            ...(message.error !== undefined && { "error.type": errorType(message.error) }),
          };
          instruments.duration.record((performance.now() - start) / 1000, labels);
          if (message.bytesWritten !== undefined && message.kind !== undefined) {
            instruments.written.record(message.bytesWritten, { "checkpointer.operation": operation, "checkpointer.kind": message.kind });
          }
        }
      },
    };
    channel.subscribe(handlers as never);
    undo.push(() => channel.unsubscribe(handlers as never));
  }
  return () => undo.forEach((u) => u());
}
