import OpenAI from "openai";
import type { ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources/chat/completions";
import type { Message } from "../agent/state.js";
import { ModelError, type Model, type ModelReply, type ModelRequest } from "./model.js";

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

  async complete({ system, messages, tools }: ModelRequest): Promise<ModelReply> {
    const chatTools: ChatCompletionTool[] = tools.map((t) => ({
      type: "function",
      function: { name: t.name, description: t.description, parameters: t.parameters },
    }));
    let completion: OpenAI.Chat.Completions.ChatCompletion;
    try {
      completion = await this.#client.chat.completions.create({
        model: this.#model,
        messages: [{ role: "system", content: system }, ...messages.map(toChatMessage)],
        ...(chatTools.length > 0 && { tools: chatTools }),
      });
    } catch (error) {
      // The SDK's messages carry the HTTP status and the provider's explanation, never the key.
      throw new ModelError(`${this.name} failed: ${(error as Error).message}`, { cause: error });
    }
    const message = completion.choices[0]?.message;
    if (!message) throw new ModelError(`${this.name} returned no choices`);
    return {
      content: message.content ?? "",
      toolCalls: (message.tool_calls ?? []).flatMap((c) =>
        c.type === "function" ? [{ id: c.id, name: c.function.name, arguments: c.function.arguments }] : [],
      ),
    };
  }
}
