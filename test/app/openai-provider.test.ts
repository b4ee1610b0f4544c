// The OpenAI-compatible provider against a local fake server that speaks chat-completions.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { OpenAIModel } from "../../app/models/openai.js";
import { hangUpAfterFirstToken, sayStreaming } from "./support/event-stream.js";
import { request, say, startTestApp, type TestApp } from "./support/in-process-app.js";
import { deferred } from "./support/models.js";
import { openEvents } from "./support/sse-client.js";

interface ChatRequest {
  model: string;
  stream?: boolean;
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

/** A message as `stream: true` sends it: the text word by word, each tool call's arguments in two parts. */
function chunksOf(message: { content: string | null; tool_calls?: { id: string; function: { name: string; arguments: string } }[] }, finish: string) {
  const chunk = (delta: object, finishReason: string | null = null) => ({
    id: "chatcmpl-test",
    object: "chat.completion.chunk",
    created: 1_700_000_000,
    model: "fake-model",
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  });
  const words = message.content?.split(/(?<= )/) ?? [];
  const calls = (message.tool_calls ?? []).flatMap((c, index) => {
    const half = Math.ceil(c.function.arguments.length / 2);
    return [
      chunk({ tool_calls: [{ index, id: c.id, type: "function", function: { name: c.function.name, arguments: c.function.arguments.slice(0, half) } }] }),
      chunk({ tool_calls: [{ index, function: { arguments: c.function.arguments.slice(half) } }] }),
    ];
  });
  return [chunk({ role: "assistant" }), ...words.map((w) => chunk({ content: w })), ...calls, chunk({}, finish)];
}

/**
 * A scripted chat-completions endpoint: asked to calculate, it calls the calculator tool;
 * given a tool result, it answers with it; otherwise it echoes. `failWith` makes it fail; with
 * `stream: true` it answers in chunks, and `holdMidStream` holds it after the first word until it resolves.
 */
class FakeChatCompletions {
  readonly requests: { path: string; headers: IncomingHttpHeaders; body: ChatRequest }[] = [];
  failWith: number | undefined;
  holdMidStream: Promise<void> | undefined;
  /** Streamed answers whose client went away before the end. */
  abandoned = 0;
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
      let message: Parameters<typeof chunksOf>[0] = { content: `echo: ${last.content}` };
      let finish = "stop";
      if (last.role === "tool") {
        message = { content: `The answer is ${last.content}.` };
      } else if (math && body.tools?.some((t) => t.function.name === "calculator")) {
        const call = { id: "call_abc", type: "function", function: { name: "calculator", arguments: JSON.stringify({ expression: math[1] }) } };
        [message, finish] = [{ content: null, tool_calls: [call] }, "tool_calls"];
      }
      if (!body.stream) {
        res.end(JSON.stringify(completion(message, finish)));
        return;
      }
      res.setHeader("content-type", "text/event-stream");
      res.on("close", () => {
        if (!res.writableFinished) this.abandoned++;
      });
      const chunks = chunksOf(message, finish);
      for (const [i, chunk] of chunks.entries()) {
        res.write(`data: ${JSON.stringify(chunk)}\n\n`);
        if (this.holdMidStream && i === 1) await this.holdMidStream;
        if (res.destroyed) return;
      }
      res.end("data: [DONE]\n\n");
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
    fake.holdMidStream = undefined;
    fake.abandoned = 0;
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

  it("streams a turn with stream: true: tool steps, then the reply's words as they come", async () => {
    const res = await sayStreaming(app.url, "llm-stream", "Calculate (2+3)*4");
    expect(fake.requests.map((r) => r.body.stream)).toEqual([true, true]);
    const turnId = res.headers.get("x-turn-id");
    expect(res.events.slice(0, 2)).toEqual([
      { id: 1, event: "turn", data: { turnId } },
      { id: 2, event: "tool", data: { name: "calculator", arguments: '{"expression":"(2+3)*4"}', result: "(2+3)*4 = 20" } },
    ]);
    expect(res.events.map((e) => e.id)).toEqual(res.events.map((_, i) => i + 1));
    const tokens = res.events.filter((e) => e.event === "token").map((e) => e.data.text);
    expect(tokens).toEqual(["The ", "answer ", "is ", "(2+3)*4 ", "= ", "20."]);
    expect(res.events.at(-1)).toEqual({
      id: res.events.length,
      event: "done",
      data: { threadId: "llm-stream", checkpointId: expect.any(String), turnId, reply: { role: "assistant", content: "The answer is (2+3)*4 = 20." } },
    });
    // The tool call was put together from its chunks and stored like a non-streamed one.
    const thread = await request(app.url, "GET", "/threads/llm-stream");
    expect(thread.body.messages[1]).toEqual({ role: "assistant", content: "", toolCalls: [{ name: "calculator", arguments: '{"expression":"(2+3)*4"}' }] });
  });

  it("a streamed turn the provider fails ends with an error event; nothing is stored", async () => {
    fake.failWith = 401;
    const res = await sayStreaming(app.url, "llm-stream-failing", "hello");
    expect(res.status).toBe(200);
    expect(res.events).toEqual([
      { id: 1, event: "turn", data: { turnId: res.headers.get("x-turn-id") } },
      { id: 2, event: "error", data: { status: 502, error: { code: "MODEL_ERROR", message: expect.any(String) } } },
    ]);
    expect(res.text).not.toContain("sk-test-key");
    expect(await app.checkpointer.exists("llm-stream-failing")).toBe(false);
  });

  it("a client that hangs up mid-stream does not cancel the request to the provider: the turn runs to the end and is saved", async () => {
    const hold = deferred();
    fake.holdMidStream = hold.promise;
    const hungUp = await hangUpAfterFirstToken(app.url, "llm-gone", "hello");
    expect(hungUp.text).toContain("event: token");
    // Time for a hang-up to reach the provider, were it passed on.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(fake.abandoned).toBe(0);
    hold.resolve();
    await expect
      .poll(async () => (await request(app.url, "GET", "/threads/llm-gone")).body.messages, { timeout: 5000 })
      .toEqual([
        { role: "user", content: "hello" },
        { role: "assistant", content: "echo: hello" },
      ]);
    expect(fake.abandoned).toBe(0);
  });

  it("a cancel of the turn cancels the request to the provider mid-stream; nothing is stored", async () => {
    const hold = deferred();
    fake.holdMidStream = hold.promise;
    const stream = await openEvents(`${app.url}/threads/llm-cancel/messages`, { method: "POST", body: { content: "hello" } });
    await stream.waitFor((e) => e.event === "token");
    const turnId = stream.headers.get("x-turn-id")!;
    const cancel = await request(app.url, "POST", `/threads/llm-cancel/turns/${turnId}/cancel`);
    expect(cancel.status).toBe(202);
    await expect.poll(() => fake.abandoned, { timeout: 5000 }).toBe(1);
    expect(await stream.closed).toBe("ended");
    expect(stream.events.at(-1)).toMatchObject({ event: "error", data: { error: { code: "CANCELLED" } } });
    hold.resolve();
    expect(await app.checkpointer.exists("llm-cancel")).toBe(false);
  });

  it("works without tools too (plain chat-completions)", async () => {
    const model = new OpenAIModel({ apiKey: "k", baseURL, model: "fake-model", maxRetries: 0 });
    const reply = await model.complete({ system: "s", messages: [{ role: "user", content: "hi" }], tools: [] });
    // With the usage, finish reason and model the provider reported, for traces and metrics.
    expect(reply).toEqual({ content: "echo: hi", toolCalls: [], usage: { inputTokens: 1, outputTokens: 1 }, finishReason: "stop", responseModel: "fake-model" });
    expect(fake.requests.at(-1)!.body).not.toHaveProperty("tools");
  });
});
