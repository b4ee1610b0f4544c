import type { Message, ToolCall } from "../agent/state.js";

/** A tool as the model sees it: `parameters` is a JSON Schema object. */
export interface ToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

export interface ModelRequest {
  system: string;
  messages: readonly Message[];
  tools: readonly ToolSpec[];
}

/** The assistant's next message: text, tool calls, or both. */
export interface ModelReply {
  content: string;
  toolCalls: ToolCall[];
  /** Tokens read and written, when the provider reports them (traces and metrics show them). */
  usage?: { inputTokens: number; outputTokens: number } | undefined;
  /** Why the model stopped (`stop`, `tool_calls`, `length`, …), when the provider says. */
  finishReason?: string | undefined;
  /** The model that answered, when the provider names it (it may differ from the one asked for). */
  responseModel?: string | undefined;
}

/** How a caller follows one model call as it happens. */
export interface CompleteOptions {
  /** Aborting it cancels the call, which then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Receives the reply's text piece by piece as the model produces it; the pieces add up to `content`. */
  onToken?: (text: string) => void;
}

export interface Model {
  /** Shown in logs, `/healthz` and checkpoint metadata, e.g. `demo` or `openai:gpt-4o-mini`. */
  readonly name: string;
  complete(request: ModelRequest, options?: CompleteOptions): Promise<ModelReply>;
}

/** The model provider failed (unreachable, rejected the key, returned nonsense): HTTP 502. */
export class ModelError extends Error {
  override name = "ModelError";
}
