import { isSpanContextValid, trace } from "@opentelemetry/api";

/** pino's mixin: the active span's trace_id and span_id, on every line logged inside a traced request. */
export function traceFields(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const context = span.spanContext();
  return isSpanContextValid(context) ? { trace_id: context.traceId, span_id: context.spanId } : {};
}
