// The OpenAI-compatible provider against a local fake server that speaks chat-completions.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { OpenAIModel } from "../../app/models/openai.js";
import { request, say, startTestApp, type TestApp } from "./support/in-process-app.js";

interface ChatRequest {
  model: string;
  messages: { role: string; content: string | null; tool_calls?: unknown[]; tool_call_id?: string }[];
  tools?: { type: string; function: { name: string; description: string; parameters: object } }[];
}

const completion = (message: object, finish: string) => ({
  id: "chatcmpl-test",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "fake-model",
  choices: [{ index: 0, message: { role: "assistant", ...message }, finish_reason: finish }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
});

/**
 * A scripted chat-completions endpoint: asked to calculate, it calls the calculator tool;
 * given a tool result, it answers with it; otherwise it echoes. `failWith` makes it fail.
 */
class FakeChatCompletions {
  readonly requests: { path: string; headers: IncomingHttpHeaders; body: ChatRequest }[] = [];
  failWith: number | undefined;
  #server: Server | undefined;

  async start(): Promise<string> {
    this.#server = createServer(async (req, res) => {
      let raw = "";
      for await (const chunk of req) raw += chunk;
      const body = JSON.parse(raw) as ChatRequest;
      this.requests.push({ path: req.url ?? "", headers: req.headers, body });
      res.setHeader("content-type", "application/json");
      if (this.failWith) {
        res.statusCode = this.failWith;
        res.end(JSON.stringify({ error: { message: "Incorrect API key provided", type: "invalid_request_error", code: "invalid_api_key" } }));
        return;
      }
      const last = body.messages.at(-1)!;
      const math = /calculate (.+)/i.exec(last.content ?? "");
      if (last.role === "tool") {
        res.end(JSON.stringify(completion({ content: `The answer is ${last.content}.` }, "stop")));
      } else if (math && body.tools?.some((t) => t.function.name === "calculator")) {
        const call = { id: "call_abc", type: "function", function: { name: "calculator", arguments: JSON.stringify({ expression: math[1] }) } };
        res.end(JSON.stringify(completion({ content: null, tool_calls: [call] }, "tool_calls")));
      } else {
        res.end(JSON.stringify(completion({ content: `echo: ${last.content}` }, "stop")));
      }
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/v1`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.#server!.close(() => resolve()));
  }
}

describe("OpenAIModel against a fake chat-completions server", () => {
  const fake = new FakeChatCompletions();
  let baseURL: string;
  let app: TestApp;

  beforeAll(async () => {
    baseURL = await fake.start();
    const model = new OpenAIModel({ apiKey: "sk-test-key", baseURL, model: "fake-model", maxRetries: 0 });
    app = await startTestApp({ model });
  });
  afterAll(async () => {
    await app.stop();
    await fake.stop();
  });
  beforeEach(() => {
    fake.requests.length = 0;
    fake.failWith = undefined;
  });

  it("runs a turn with a tool call round through the API", async () => {
    const res = await say(app.url, "llm", "Calculate (2+3)*4");
    expect(res.status).toBe(200);
    expect(res.body.reply.content).toBe("The answer is (2+3)*4 = 20.");

    expect(fake.requests).toHaveLength(2);
    const [first, second] = fake.requests;
    expect(first!.path).toBe("/v1/chat/completions");
    expect(first!.headers.authorization).toBe("Bearer sk-test-key");
    expect(first!.body.model).toBe("fake-model");
    expect(first!.body.messages.map((m) => m.role)).toEqual(["system", "user"]);
    expect(first!.body.tools?.map((t) => t.function.name)).toEqual(["calculator", "current_time"]);
    expect(first!.body.tools?.[0]?.function.parameters).toMatchObject({ type: "object", required: ["expression"] });

    // The second request carries the tool call and its result, linked by the call id.
    expect(second!.body.messages.slice(1)).toEqual([
      { role: "user", content: "Calculate (2+3)*4" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "call_abc", type: "function", function: { name: "calculator", arguments: '{"expression":"(2+3)*4"}' } }],
      },
      { role: "tool", tool_call_id: "call_abc", content: "(2+3)*4 = 20" },
    ]);

    const thread = await request(app.url, "GET", "/threads/llm");
    expect(thread.body.messages.map((m: { role: string }) => m.role)).toEqual(["user", "assistant", "tool", "assistant"]);
    const checkpoints = await request(app.url, "GET", "/threads/llm/checkpoints");
    expect(checkpoints.body.checkpoints[0].metadata.model).toBe("openai:fake-model");
  });

  it("sends the whole stored history on the next turn", async () => {
    await say(app.url, "history", "My name is Alex");
    await say(app.url, "history", "Who am I?");
    const last = fake.requests.at(-1)!.body.messages;
    expect(last.map((m) => [m.role, m.content])).toEqual([
      ["system", expect.any(String)],
      ["user", "My name is Alex"],
      ["assistant", "echo: My name is Alex"],
      ["user", "Who am I?"],
    ]);
  });

  it("answers 502 when the provider fails, stores nothing, and does not leak the key", async () => {
    fake.failWith = 401;
    const res = await say(app.url, "failing", "hello");
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe("MODEL_ERROR");
    expect(JSON.stringify(res.body)).not.toContain("sk-test-key");
    expect(await app.checkpointer.exists("failing")).toBe(false);
  });

  it("works without tools too (plain chat-completions)", async () => {
    const model = new OpenAIModel({ apiKey: "k", baseURL, model: "fake-model", maxRetries: 0 });
    const reply = await model.complete({ system: "s", messages: [{ role: "user", content: "hi" }], tools: [] });
    expect(reply).toEqual({ content: "echo: hi", toolCalls: [] });
    expect(fake.requests.at(-1)!.body).not.toHaveProperty("tools");
  });
});
