// When the app traces and what it puts into spans, from the standard OTEL_* variables only. This
// module imports nothing, so main.ts can decide before loading OpenTelemetry at all.

type Env = Record<string, string | undefined>;

const set = (value: string | undefined) => value !== undefined && value.trim() !== "";
const isTrue = (value: string | undefined) => value?.trim().toLowerCase() === "true";

/**
 * Whether to start OpenTelemetry's SDK: when OTEL_TRACES_EXPORTER names an exporter (not `none`),
 * or an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT),
 * and OTEL_SDK_DISABLED is not `true`. Otherwise the SDK is never loaded: nothing is exported and
 * a turn costs what it did without tracing.
 */
export function tracingRequested(env: Env): boolean {
  if (isTrue(env.OTEL_SDK_DISABLED)) return false;
  const exporters = env.OTEL_TRACES_EXPORTER?.split(",").map((e) => e.trim().toLowerCase()).filter((e) => e !== "") ?? [];
  if (exporters.length > 0) return exporters.some((e) => e !== "none");
  return set(env.OTEL_EXPORTER_OTLP_ENDPOINT) || set(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** Message content (prompts, replies, tool arguments and results) goes into spans only when the operator opts in. */
export function captureMessageContent(env: Env): boolean {
  return isTrue(env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT);
}
