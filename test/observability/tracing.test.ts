// Traces of the app as a process, on MySQL, exported by OpenTelemetry's SDK over OTLP/HTTP (JSON)
// to a real receiver in this process (support/otlp-receiver.ts): the span tree of a turn with a
// tool call, a streamed turn, opt-in message content, log lines with trace ids, and 100 concurrent
// turns each in one trace with no span orphaned.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { APP_MAIN, cleanEnv, REPO, startAppProcess, type AppProcess } from "../app/support/app-process.js";
import { sayStreaming } from "../app/support/event-stream.js";
import { freshDatabase } from "../support/databases.js";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "./support/otlp-receiver.js";

const rootUrl = inject("mysqlUrl");

const say = (url: string, threadId: string, content: string) =>
  fetch(`${url}/threads/${encodeURIComponent(threadId)}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ content }),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as { checkpointId: string } }));

function tracedEnv(receiver: OtlpReceiver, mysqlUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return cleanEnv({
    PORT: "0",
    MYSQL_URL: mysqlUrl,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_SERVICE_NAME: "agent-under-test",
    OTEL_BSP_SCHEDULE_DELAY: "50",
    // Traces only: the receiver takes no metrics or logs.
    OTEL_METRICS_EXPORTER: "none",
    OTEL_LOGS_EXPORTER: "none",
    ...extra,
  });
}

/** The spans of the trace whose `invoke_agent` span has this conversation id. */
function turnOf(spans: ReceivedSpan[], threadId: string): ReceivedSpan[] {
  const agent = spans.find((s) => s.name === "invoke_agent assistant" && s.attributes["gen_ai.conversation.id"] === threadId);
  return agent ? spans.filter((s) => s.traceId === agent.traceId) : [];
}

const childrenOf = (spans: ReceivedSpan[], parent: ReceivedSpan) => spans.filter((s) => s.parentSpanId === parent.spanId);

/** The turn's trace is complete once the HTTP server span (the root, ended last) has arrived. */
const complete = (spans: ReceivedSpan[], threadId: string) => turnOf(spans, threadId).some((s) => s.parentSpanId === undefined);

describe.skipIf(!rootUrl)("traces of a turn, exported over OTLP/HTTP", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let receiver: OtlpReceiver;
  let app: AppProcess;

  beforeAll(async () => {
    db = await freshDatabase(rootUrl!, "otel");
    receiver = await startOtlpReceiver();
    app = await startAppProcess(...APP_MAIN, { cwd: REPO, env: tracedEnv(receiver, db.url) });
  });
  afterAll(async () => {
    app?.child.kill("SIGTERM");
    await app?.exited;
    await receiver?.close();
    await db?.drop();
  });

  it("makes one trace of a turn with a tool call: HTTP, invoke_agent, chat, execute_tool, the checkpointer's operations and mysql2's queries under them", async () => {
    // Compose's health probes are not traced, nor is the store query behind them.
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    const sent = await say(app.url, "calc", "Calculate 2+3");
    expect(sent.status).toBe(200);
    const spans = turnOf(await receiver.waitFor((all) => complete(all, "calc")), "calc");
    expect(receiver.rejected).toEqual([]);
    expect(receiver.spans.filter((s) => s.attributes["checkpointer.thread_id"] === "__healthz__" || s.attributes["url.path"] === "/healthz")).toEqual([]);
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(["agent-under-test"]));

    const [root, ...more] = spans.filter((s) => s.parentSpanId === undefined);
    expect(more).toEqual([]);
    expect(root!.name).toBe("POST /threads/:threadId/messages");
    // Every span's parent is in the same trace.
    const ids = new Set(spans.map((s) => s.spanId));
    expect(spans.filter((s) => s.parentSpanId !== undefined && !ids.has(s.parentSpanId))).toEqual([]);

    const agent = spans.find((s) => s.name === "invoke_agent assistant")!;
    expect(agent.attributes).toMatchObject({ "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "assistant", "gen_ai.conversation.id": "calc" });
    // Under the HTTP span, through express's route handler.
    const handler = spans.find((s) => s.spanId === agent.parentSpanId)!;
    expect(handler.attributes).toMatchObject({ "express.type": "request_handler", "http.route": "/threads/:threadId/messages" });
    expect(handler.parentSpanId).toBe(root!.spanId);

    const steps = childrenOf(spans, agent).map((s) => s.name);
    expect(steps).toEqual(
      expect.arrayContaining(["checkpointer getMetadata", "chat demo", "execute_tool calculator", "checkpointer save"]),
    );
    expect(steps.filter((n) => n === "chat demo")).toHaveLength(2);

    const [first, second] = spans.filter((s) => s.name === "chat demo");
    expect(first!.kind).toBe(3); // CLIENT
    expect(first!.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "demo",
      "gen_ai.request.model": "demo",
      "gen_ai.response.model": "demo",
      "gen_ai.request.stream": false,
      "gen_ai.response.finish_reasons": ["tool_calls"],
    });
    expect(first!.attributes["gen_ai.usage.input_tokens"]).toBeGreaterThan(0);
    expect(second!.attributes["gen_ai.response.finish_reasons"]).toEqual(["stop"]);
    expect(second!.attributes["gen_ai.usage.output_tokens"]).toBeGreaterThan(0);
    // No content without the operator's opt-in.
    expect(Object.keys(first!.attributes).filter((k) => k.includes("messages") || k.includes("instructions"))).toEqual([]);

    const tool = spans.find((s) => s.name === "execute_tool calculator")!;
    expect(tool.attributes).toMatchObject({ "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "calculator", "gen_ai.tool.call.id": "demo-call-1" });
    expect(tool.attributes["gen_ai.tool.call.arguments"]).toBeUndefined();

    const save = spans.find((s) => s.name === "checkpointer save")!;
    expect(save.attributes).toMatchObject({
      "checkpointer.operation": "save",
      "checkpointer.store": "mysql",
      "checkpointer.thread_id": "calc",
      "checkpointer.checkpoint_id": sent.body.checkpointId,
      "checkpointer.kind": "snapshot",
      "checkpointer.chain_length": 0,
      "checkpointer.conflict": false,
    });
    expect(save.attributes["checkpointer.bytes_written"]).toBeGreaterThan(0);
    // mysql2's own client spans, under the save: its transaction's statements.
    const queries = childrenOf(spans, save);
    expect(queries.every((q) => q.attributes["db.system.name"] === "mysql")).toBe(true);
    const statements = queries.map((q) => String(q.attributes["db.query.text"]).split(/\s/)[0]);
    expect(statements).toEqual(expect.arrayContaining(["START", "INSERT", "COMMIT"]));
    expect(queries.some((q) => String(q.attributes["db.query.text"]).includes("cp_checkpoints"))).toBe(true);

    // The request's log line carries the trace it belongs to.
    const line = app
      .output()
      .split("\n")
      .find((l) => l.includes('"msg":"request"') && l.includes("/threads/calc/messages"));
    expect(JSON.parse(line!)).toMatchObject({ trace_id: root!.traceId, span_id: expect.stringMatching(/^[0-9a-f]{16}$/) });
  });

  it("traces a streamed turn and a delta save: chat spans marked as streamed, the save's kind and chain", async () => {
    const streamed = await sayStreaming(app.url, "calc", "Calculate 3*4");
    expect(streamed.status).toBe(200);
    await receiver.waitFor((all) => all.filter((s) => s.name === "checkpointer save" && s.attributes["checkpointer.thread_id"] === "calc").length === 2);
    const saves = receiver.spans.filter((s) => s.name === "checkpointer save" && s.attributes["checkpointer.thread_id"] === "calc");
    // The whole trace: its root (the HTTP span) ends after the save, with the turn's finish, and a
    // span of it arriving during the next test would be counted there as a stray.
    const traceId = saves[1]!.traceId;
    await receiver.waitFor((all) => all.some((s) => s.traceId === traceId && s.parentSpanId === undefined));
    const spans = receiver.spans.filter((s) => s.traceId === traceId);
    expect(spans.filter((s) => s.name === "chat demo").map((s) => s.attributes["gen_ai.request.stream"])).toEqual([true, true]);
    expect(saves[1]!.attributes).toMatchObject({ "checkpointer.kind": "delta", "checkpointer.chain_length": 1 });
    expect(saves[1]!.attributes["checkpointer.bytes_written"]).toBeLessThan(saves[0]!.attributes["checkpointer.bytes_written"] as number);
    const load = spans.find((s) => s.name === "checkpointer load")!;
    expect(load.attributes).toMatchObject({ "checkpointer.thread_id": "calc", "checkpointer.chain_length": 0 });
  });

  it("puts 100 concurrent turns in 100 traces, every span in its turn's trace and none orphaned", async () => {
    const before = receiver.spans.length;
    const threads = Array.from({ length: 100 }, (_, i) => `many-${i}`);
    const answers = await Promise.all(threads.map((t, i) => say(app.url, t, `Calculate ${i}+1`)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    await receiver.waitFor((all) => threads.every((t) => complete(all, t)), 30_000);
    // Let stragglers arrive: a span exported late would be an orphan.
    await new Promise((r) => setTimeout(r, 300));
    const spans = receiver.spans.slice(before);
    const byTrace = new Map<string, ReceivedSpan[]>();
    for (const s of spans) byTrace.set(s.traceId, [...(byTrace.get(s.traceId) ?? []), s]);
    for (const t of threads) {
      const turn = turnOf(spans, t);
      const ids = new Set(turn.map((s) => s.spanId));
      expect(turn.filter((s) => s.parentSpanId === undefined)).toHaveLength(1);
      expect(turn.filter((s) => s.parentSpanId !== undefined && !ids.has(s.parentSpanId))).toEqual([]);
      expect(turn.filter((s) => s.name === "checkpointer save")).toHaveLength(1);
      expect(turn.filter((s) => s.name === "execute_tool calculator")).toHaveLength(1);
      const save = turn.find((s) => s.name === "checkpointer save")!;
      expect(save.attributes["checkpointer.thread_id"]).toBe(t);
      expect(childrenOf(turn, save).length).toBeGreaterThan(0);
      // Every query under one of this turn's checkpointer operations.
      const parents = turn.filter((s) => s.attributes["db.system.name"] === "mysql").map((q) => turn.find((s) => s.spanId === q.parentSpanId)?.name);
      expect(parents.every((name) => name?.startsWith("checkpointer "))).toBe(true);
    }
    // No span of these turns in a trace of its own (an orphan's trace has no HTTP root).
    const turnTraces = new Set(threads.map((t) => turnOf(spans, t)[0]!.traceId));
    const strays = [...byTrace.entries()].filter(([id]) => !turnTraces.has(id)).flatMap(([, s]) => s.map((x) => `${x.name} ${x.parentSpanId} ${String(x.attributes["db.query.text"]).slice(0, 80)}`));
    expect(strays).toEqual([]);
  });
});

describe.skipIf(!rootUrl)("message content in spans, when the operator opts in", () => {
  it("puts the prompt, the reply and the tool's arguments and result into spans with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true", async () => {
    const db = await freshDatabase(rootUrl!, "otelc");
    const receiver = await startOtlpReceiver();
    const app = await startAppProcess(...APP_MAIN, {
      cwd: REPO,
      env: tracedEnv(receiver, db.url, { OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: "true" }),
    });
    try {
      expect((await say(app.url, "c1", "Calculate 2+3")).status).toBe(200);
      const spans = turnOf(await receiver.waitFor((all) => complete(all, "c1")), "c1");
      const [first, second] = spans.filter((s) => s.name === "chat demo");
      expect(JSON.parse(first!.attributes["gen_ai.input.messages"] as string)).toEqual([{ role: "user", parts: [{ type: "text", content: "Calculate 2+3" }] }]);
      expect(JSON.parse(first!.attributes["gen_ai.output.messages"] as string)[0].parts[0]).toMatchObject({ type: "tool_call", name: "calculator" });
      expect(JSON.parse(second!.attributes["gen_ai.output.messages"] as string)[0]).toMatchObject({
        role: "assistant",
        parts: [{ type: "text", content: "2+3 = 5 (worked out with the calculator tool)." }],
        finish_reason: "stop",
      });
      const tool = spans.find((s) => s.name === "execute_tool calculator")!;
      expect(tool.attributes).toMatchObject({ "gen_ai.tool.call.arguments": '{"expression":"2+3"}', "gen_ai.tool.call.result": "2+3 = 5" });
    } finally {
      app.child.kill("SIGTERM");
      await app.exited;
      await receiver.close();
      await db.drop();
    }
  });
});

describe("a model call that fails, traced", () => {
  it("marks the chat span and the turn with error.type and an error status (OpenAI-compatible provider answering 400)", async () => {
    const provider = createServer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "no such model", type: "invalid_request_error" } })));
    });
    await new Promise<void>((done) => provider.listen(0, "127.0.0.1", done));
    const receiver = await startOtlpReceiver();
    const dataDir = mkdtempSync(join(tmpdir(), "otel-sqlite-"));
    const app = await startAppProcess(...APP_MAIN, {
      cwd: REPO,
      env: cleanEnv({
        PORT: "0",
        DATA_DIR: dataDir,
        OPENAI_API_KEY: "sk-test",
        OPENAI_BASE_URL: `http://127.0.0.1:${(provider.address() as AddressInfo).port}/v1`,
        MODEL: "gpt-test",
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_BSP_SCHEDULE_DELAY: "50",
        OTEL_METRICS_EXPORTER: "none",
        OTEL_LOGS_EXPORTER: "none",
      }),
    });
    try {
      expect((await say(app.url, "broken", "hello")).status).toBe(502);
      const spans = turnOf(await receiver.waitFor((all) => complete(all, "broken")), "broken");
      const chat = spans.find((s) => s.name === "chat gpt-test")!;
      expect(chat.attributes).toMatchObject({ "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-test", "error.type": "ModelError" });
      expect(chat.status.code).toBe(2); // ERROR
      const agent = spans.find((s) => s.name === "invoke_agent assistant")!;
      expect(agent.attributes["error.type"]).toBe("ModelError");
      // The store still traced the turn's read, in SQLite.
      expect(spans.find((s) => s.name === "checkpointer getMetadata")!.attributes["checkpointer.store"]).toBe("sqlite");
    } finally {
      app.child.kill("SIGTERM");
      await app.exited;
      await receiver.close();
      await new Promise((done) => provider.close(done));
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
