// Spans and metrics of a turn, named and attributed as OpenTelemetry's GenAI semantic conventions
// say (Development status; followed as of semantic-conventions 1.45.0): `invoke_agent {agent}`,
// `chat {model}` per model call, `execute_tool {tool}` per tool call. Until tracing or metrics are
// switched on (main.ts), each helper only calls the work it wraps.
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Histogram, type Span } from "@opentelemetry/api";
// errors.js itself, not the module index, which loads mysql2 (tracing must start before that).
import { isCheckpointerError } from "../../checkpointer/errors.js";
import type { Message } from "../agent/state.js";
import type { Model, ModelReply } from "../models/model.js";

/** The instruments the helpers record into (metrics.ts makes them). */
export interface GenAiInstruments {
  /** `gen_ai.client.operation.duration`, seconds. */
  operationDuration: Histogram;
  /** `gen_ai.client.token.usage`, tokens. */
  tokenUsage: Histogram;
}

const state: { tracing: boolean; captureContent: boolean; instruments: GenAiInstruments | undefined } = {
  tracing: false,
  captureContent: false,
  instruments: undefined,
};

export const TRACER_NAME = "mysql-agent-template";
/** `gen_ai.agent.name` of the app's one agent. */
export const AGENT_NAME = "assistant";

/** Spans from here on (the SDK is started); `captureContent` puts messages into them. */
export function enableGenAiTracing(captureContent: boolean): void {
  state.tracing = true;
  state.captureContent = captureContent;
}

export function setGenAiInstruments(instruments: GenAiInstruments | undefined): void {
  state.instruments = instruments;
}

const tracer = () => trace.getTracer(TRACER_NAME);

/** `error.type`: a checkpointer error's code, else the error's class name. */
export function errorType(error: unknown): string {
  if (isCheckpointerError(error)) return error.code;
  return error instanceof Error ? error.name : "_OTHER";
}

function fail(span: Span, error: unknown): void {
  span.setAttribute("error.type", errorType(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/** Runs `work` in a span of its own (the active one while it runs), ended when it settles. */
async function inSpan<T>(name: string, kind: SpanKind, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      fail(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** One turn of the agent: `invoke_agent assistant`, with the thread id the client sent. */
export function agentSpan<T>(conversationId: string, work: () => Promise<T>): Promise<T> {
  if (!state.tracing) return work();
  return inSpan(
    `invoke_agent ${AGENT_NAME}`,
    SpanKind.INTERNAL,
    { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": AGENT_NAME, "gen_ai.conversation.id": conversationId },
    () => work(),
  );
}

/** Provider and model as the conventions name them, from `Model.name` (`openai:gpt-4o-mini`, `demo`). */
export function modelNames(model: Model): { provider: string; model: string } {
  const colon = model.name.indexOf(":");
  return colon < 0 ? { provider: model.name, model: model.name } : { provider: model.name.slice(0, colon), model: model.name.slice(colon + 1) };
}

const asParts = (m: Message) => {
  if (m.role === "tool") return { role: "tool", parts: [{ type: "tool_call_response", id: m.toolCallId, response: m.content }] };
  const parts: unknown[] = m.content === "" ? [] : [{ type: "text", content: m.content }];
  if (m.role === "assistant") for (const c of m.toolCalls ?? []) parts.push({ type: "tool_call", id: c.id, name: c.name, arguments: c.arguments });
  return { role: m.role, parts };
};

/** One model call: `chat {model}`, its usage and finish reason, and the two GenAI client metrics. */
export async function chatSpan(
  model: Model,
  streaming: boolean,
  request: { system: string; messages: readonly Message[] },
  work: () => Promise<ModelReply>,
): Promise<ModelReply> {
  const instruments = state.instruments;
  if (!state.tracing && !instruments) return work();
  const names = modelNames(model);
  const base: Attributes = { "gen_ai.operation.name": "chat", "gen_ai.provider.name": names.provider, "gen_ai.request.model": names.model };
  const started = performance.now();
  let failure: unknown;
  let reply: ModelReply | undefined;
  const call = async (span?: Span) => {
    try {
      reply = await work();
    } catch (error) {
      failure = error;
      throw error;
    }
    if (span) {
      span.setAttributes({
        ...(reply.responseModel && { "gen_ai.response.model": reply.responseModel }),
        ...(reply.usage && { "gen_ai.usage.input_tokens": reply.usage.inputTokens, "gen_ai.usage.output_tokens": reply.usage.outputTokens }),
        ...(reply.finishReason && { "gen_ai.response.finish_reasons": [reply.finishReason] }),
      });
      if (state.captureContent) {
        span.setAttributes({
          "gen_ai.system_instructions": JSON.stringify([{ type: "text", content: request.system }]),
          "gen_ai.input.messages": JSON.stringify(request.messages.map(asParts)),
          "gen_ai.output.messages": JSON.stringify([{ ...asParts({ role: "assistant", content: reply.content, toolCalls: reply.toolCalls }), finish_reason: reply.finishReason }]),
        });
      }
    }
    return reply;
  };
  try {
    return state.tracing ? await inSpan(`chat ${names.model}`, SpanKind.CLIENT, { ...base, "gen_ai.request.stream": streaming }, call) : await call();
  } finally {
    if (instruments) {
      const attributes: Attributes = { ...base, ...(reply?.responseModel && { "gen_ai.response.model": reply.responseModel }) };
      if (failure !== undefined) attributes["error.type"] = errorType(failure);
      instruments.operationDuration.record((performance.now() - started) / 1000, attributes);
      if (reply?.usage) {
        instruments.tokenUsage.record(reply.usage.inputTokens, { ...attributes, "gen_ai.token.type": "input" });
        instruments.tokenUsage.record(reply.usage.outputTokens, { ...attributes, "gen_ai.token.type": "output" });
      }
    }
  }
}

/** One tool call: `execute_tool {tool}`. Tools here are synchronous and answer errors as text. */
export function toolSpan(call: { id: string; name: string; arguments: string }, work: () => string): string {
  if (!state.tracing) return work();
  const span = tracer().startSpan(`execute_tool ${call.name}`, {
    kind: SpanKind.INTERNAL,
    attributes: {
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": call.name,
      "gen_ai.tool.call.id": call.id,
      "gen_ai.tool.type": "function",
      ...(state.captureContent && { "gen_ai.tool.call.arguments": call.arguments }),
    },
  });
  try {
    const result = context.with(trace.setSpan(context.active(), span), work);
    if (state.captureContent) span.setAttribute("gen_ai.tool.call.result", result);
    if (result.startsWith("Error:")) {
      span.setAttribute("error.type", "tool_error");
      span.setStatus({ code: SpanStatusCode.ERROR, message: result });
    }
    return result;
  } catch (error) {
    fail(span, error);
    throw error;
  } finally {
    span.end();
  }
}
