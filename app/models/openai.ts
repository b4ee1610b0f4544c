import OpenAI from "openai";
import type { ChatCompletionCreateParamsBase, ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources/chat/completions";
import type { Message } from "../agent/state.js";
import { ModelError, type CompleteOptions, type Model, type ModelReply, type ModelRequest } from "./model.js";

export interface OpenAIModelOptions {
  apiKey: string;
  /** Any OpenAI-compatible endpoint: OpenAI, OCI Generative AI, Ollama (`http://localhost:11434/v1`), vLLM. */
  baseURL?: string | undefined;
  model: string;
  /** Per request, in milliseconds. */
  timeoutMs?: number;
  /** The SDK's own retries on 408/409/429/5xx and connection errors. */
  maxRetries?: number;
}

function toChatMessage(message: Message): ChatCompletionMessageParam {
  switch (message.role) {
    case "user":
      return { role: "user", content: message.content };
    case "tool":
      return { role: "tool", tool_call_id: message.toolCallId, content: message.content };
    case "assistant":
      if (!message.toolCalls?.length) return { role: "assistant", content: message.content };
      return {
        role: "assistant",
        content: message.content || null,
        tool_calls: message.toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } })),
      };
  }
}

/** A model behind the chat-completions API, through the official `openai` package. */
export class OpenAIModel implements Model {
  readonly name: string;
  readonly #client: OpenAI;
  readonly #model: string;

  constructor(options: OpenAIModelOptions) {
    this.#model = options.model;
    this.name = `openai:${options.model}`;
    this.#client = new OpenAI({
      apiKey: options.apiKey,
      // Always explicit: the SDK would otherwise read OPENAI_BASE_URL from the environment itself.
      baseURL: options.baseURL ?? "https://api.openai.com/v1",
      timeout: options.timeoutMs ?? 60_000,
      maxRetries: options.maxRetries ?? 2,
    });
  }

  /** With `onToken`, the reply is requested with `stream: true` and its text handed on as it arrives. */
  async complete({ system, messages, tools }: ModelRequest, { signal, onToken }: CompleteOptions = {}): Promise<ModelReply> {
    const chatTools: ChatCompletionTool[] = tools.map((t) => ({
      type: "function",
      function: { name: t.name, description: t.description, parameters: t.parameters },
    }));
    const body = {
      model: this.#model,
      messages: [{ role: "system" as const, content: system }, ...messages.map(toChatMessage)],
      ...(chatTools.length > 0 && { tools: chatTools }),
    };
    try {
      if (onToken) return await this.#stream(body, onToken, signal);
      const completion = await this.#client.chat.completions.create(body, { signal });
      const message = completion.choices[0]?.message;
      if (!message) throw new ModelError(`${this.name} returned no choices`);
      return {
        content: message.content ?? "",
        toolCalls: (message.tool_calls ?? []).flatMap((c) =>
          c.type === "function" ? [{ id: c.id, name: c.function.name, arguments: c.function.arguments }] : [],
        ),
        usage: completion.usage && { inputTokens: completion.usage.prompt_tokens, outputTokens: completion.usage.completion_tokens },
        finishReason: completion.choices[0]?.finish_reason,
        responseModel: completion.model,
      };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (error instanceof ModelError) throw error;
      // The SDK's messages carry the HTTP status and the provider's explanation, never the key.
      throw new ModelError(`${this.name} failed: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Adds up the chunks of a streamed completion: text as it comes, tool calls by their index. */
  async #stream(body: ChatCompletionCreateParamsBase, onToken: (text: string) => void, signal: AbortSignal | undefined): Promise<ModelReply> {
    const stream = await this.#client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } }, { signal });
    let content = "";
    let usage: ModelReply["usage"];
    let finishReason: string | undefined;
    let responseModel: string | undefined;
    const calls: { id: string; name: string; arguments: string }[] = [];
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      responseModel ||= chunk.model;
      // With include_usage, the last chunk carries the usage and no choices.
      if (chunk.usage) usage = { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens };
      finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
      if (chunk.choices.length === 0) continue;
      const delta = chunk.choices[0]?.delta;
      if (delta?.content) {
        content += delta.content;
        onToken(delta.content);
      }
      for (const part of delta?.tool_calls ?? []) {
        const call = (calls[part.index] ??= { id: "", name: "", arguments: "" });
        call.id ||= part.id ?? "";
        call.name += part.function?.name ?? "";
        call.arguments += part.function?.arguments ?? "";
      }
    }
    if (chunks === 0) throw new ModelError(`${this.name} returned no choices`);
    return { content, toolCalls: calls.filter(Boolean), usage, finishReason, responseModel };
  }
}
