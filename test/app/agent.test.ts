import { describe, expect, it } from "vitest";
import { runTurn, type Agent } from "../../app/agent/loop.js";
import { emptyState, type AgentState, type Message } from "../../app/agent/state.js";
import { DemoModel } from "../../app/models/demo.js";
import type { Model, ModelRequest } from "../../app/models/model.js";
import { calculatorTool, evaluate } from "../../app/tools/calculator.js";
import { currentTimeTool } from "../../app/tools/current-time.js";
import { Toolbox } from "../../app/tools/tool.js";

const FIXED_NOW = new Date("2025-03-04T05:06:07.000Z");
const toolbox = new Toolbox([calculatorTool, currentTimeTool(() => FIXED_NOW)]);

function agent(model: Model, overrides: Partial<Agent> = {}): Agent {
  return { model, toolbox, systemPrompt: "test", maxIterations: 5, checkpointEveryNIterations: 0, ...overrides };
}

const noCheckpoint = async () => {};

describe("calculator", () => {
  it.each([
    ["2+3", 5],
    ["2 + 3 * 4", 14],
    ["(2 + 3) * 4", 20],
    ["2 ^ 3 ^ 2", 512],
    ["-2 ^ 2", -4],
    ["2 ^ -1", 0.5],
    ["10 % 4", 2],
    ["0.1 + 0.2", 0.3],
    ["1.5e3 / 3", 500],
    ["--3", 3],
  ])("%s = %d", (expression, expected) => {
    expect(evaluate(expression)).toBe(expected);
  });

  it.each(["", "2 +", "(1 + 2", "1 + 2)", "2 ** 3", "abc", "1 / 0", "process.exit()"])("rejects %j", (expression) => {
    expect(() => evaluate(expression)).toThrow();
  });
});

describe("Toolbox", () => {
  it("describes tools to the model with JSON Schema parameters", () => {
    expect(toolbox.specs.map((s) => s.name)).toEqual(["calculator", "current_time"]);
    expect(toolbox.specs[0]?.parameters).toEqual({
      type: "object",
      properties: { expression: { type: "string", minLength: 1, maxLength: 500, description: "the arithmetic expression" } },
      required: ["expression"],
      additionalProperties: false,
    });
  });

  it("runs calls and turns every failure into a readable result", () => {
    expect(toolbox.call("calculator", '{"expression":"6*7"}')).toBe("6*7 = 42");
    expect(toolbox.call("current_time", "")).toBe("Tuesday, March 4, 2025 at 5:06:07 AM UTC (2025-03-04T05:06:07.000Z)");
    expect(toolbox.call("current_time", '{"timeZone":"Asia/Tokyo"}')).toMatch(/^Tuesday, March 4, 2025 at 2:06:07 PM GMT\+9/);
    expect(toolbox.call("current_time", '{"timeZone":"Mars/Olympus"}')).toBe('Error: unknown time zone "Mars/Olympus"');
    expect(toolbox.call("calculator", '{"expression":"1/0"}')).toMatch(/^Error: .*no finite value/);
    expect(toolbox.call("calculator", "{not json")).toBe("Error: the arguments are not valid JSON");
    expect(toolbox.call("calculator", '{"expr":"1"}')).toMatch(/^Error: invalid arguments/);
    expect(toolbox.call("rm_rf", "{}")).toBe('Error: there is no tool named "rm_rf"');
  });
});

describe("DemoModel", () => {
  const demo = new DemoModel();
  const ask = (messages: Message[]) => demo.complete({ system: "", messages, tools: toolbox.specs });

  it("quotes any other message and counts the user's messages, with no word of its own", async () => {
    const first = await ask([{ role: "user", content: "hi" }]);
    expect(first.content).toBe('"hi" (#1)');
    const later = await ask([{ role: "user", content: "hi" }, { role: "assistant", content: first.content }, { role: "user", content: "again" }]);
    expect(later.content).toBe('"again" (#2)');
  });

  it.each(["help", "What can you do?", "who are you?", "Can you help me?"])("says what it is and what it can do when asked: %j", async (question) => {
    const reply = await ask([{ role: "user", content: question }]);
    expect(reply.content).toMatch(/^I'm the offline demo model \(no OPENAI_API_KEY is set\).*"My name is Alex".*"What time is it\?".*"Calculate 2\+3"/);
  });

  it.each([
    ["My name is Alex", "Alex"],
    ["my name is alex.", "Alex"],
    ["I'm Alex.", "Alex"],
    ["Hello, call me Sam!", "Sam"],
  ])("answers Who am I? from the history after %j", async (intro, name) => {
    const history: Message[] = [
      { role: "user", content: intro },
      { role: "assistant", content: "ok" },
      { role: "user", content: "Who am I?" },
    ];
    expect((await ask(history)).content).toBe(`You are ${name} — you told me earlier in this conversation.`);
  });

  it("does not take 'I am fine' for a name, and says when it does not know", async () => {
    const history: Message[] = [
      { role: "user", content: "I am fine" },
      { role: "assistant", content: "ok" },
      { role: "user", content: "what's my name?" },
    ];
    expect((await ask(history)).content).toMatch(/^I don't know your name yet/);
  });

  it("calls the tools it is offered, and only those", async () => {
    expect(await ask([{ role: "user", content: "What time is it?" }])).toMatchObject({
      content: "",
      toolCalls: [{ id: "demo-call-1", name: "current_time", arguments: "{}" }],
    });
    expect((await ask([{ role: "user", content: "what is (2 + 3) * 4?" }])).toolCalls).toEqual([
      { id: "demo-call-1", name: "calculator", arguments: '{"expression":"(2 + 3) * 4"}' },
    ]);
    const withoutTools = await demo.complete({ system: "", messages: [{ role: "user", content: "calculate 2+3" }], tools: [] });
    expect(withoutTools.toolCalls).toEqual([]);
  });
});

describe("runTurn (the agent loop)", () => {
  it("runs tool rounds until the model answers, counting iterations, without touching the input state", async () => {
    const initial: AgentState = emptyState();
    const { state, reply } = await runTurn(agent(new DemoModel()), initial, "calculate 2+3", noCheckpoint);
    expect(reply).toBe("2+3 = 5 (worked out with the calculator tool).");
    expect(state.iteration).toBe(2);
    expect(state.metadata.title).toBe("calculate 2+3");
    expect(state.messages.map((m) => m.role)).toEqual(["user", "assistant", "tool", "assistant"]);
    expect(initial).toEqual(emptyState());
  });

  it("stops a model that never stops calling tools", async () => {
    const looping: Model = {
      name: "looping",
      complete: async (request: ModelRequest) => ({ content: "", toolCalls: [{ id: `c${request.messages.length}`, name: "calculator", arguments: '{"expression":"1+1"}' }] }),
    };
    const { state, reply } = await runTurn(agent(looping, { maxIterations: 3 }), emptyState(), "loop", noCheckpoint);
    expect(reply).toBe("I stopped after 3 steps without reaching an answer.");
    expect(state.iteration).toBe(3);
    expect(state.messages.filter((m) => m.role === "tool")).toHaveLength(3);
  });

  it("hands intermediate states to checkpoint every N iterations", async () => {
    const seen: string[][] = [];
    const checkpoint = async (s: AgentState) => void seen.push(s.messages.map((m) => m.role));
    await runTurn(agent(new DemoModel(), { checkpointEveryNIterations: 1 }), emptyState(), "what time is it", checkpoint);
    expect(seen).toEqual([["user", "assistant", "tool"]]);
  });

  it("lets an observer follow a turn: each tool step, then the reply's text piece by piece", async () => {
    const events: string[] = [];
    const observer = { signal: new AbortController().signal, onToken: (text: string) => events.push(text), onTool: (step: object) => events.push(JSON.stringify(step)) };
    const { reply } = await runTurn(agent(new DemoModel({ tokenDelayMs: 0 })), emptyState(), "calculate 2+3", undefined, observer);
    expect(events[0]).toBe(JSON.stringify({ name: "calculator", arguments: '{"expression":"2+3"}', result: "2+3 = 5" }));
    expect(events.length).toBeGreaterThan(3);
    expect(events.slice(1).join("")).toBe(reply);
    // A turn that gives up streams what it says too.
    const looping: Model = { name: "looping", complete: async () => ({ content: "", toolCalls: [{ id: "c", name: "calculator", arguments: '{"expression":"1"}' }] }) };
    const tokens: string[] = [];
    const gaveUp = await runTurn(agent(looping, { maxIterations: 1 }), emptyState(), "loop", undefined, { ...observer, onToken: (t) => tokens.push(t) });
    expect(tokens.join("")).toBe(gaveUp.reply);
  });

  it("ends with the signal's reason when the observer's signal is aborted mid-reply", async () => {
    const stop = new AbortController();
    const reason = new Error("the client disconnected");
    const observer = { signal: stop.signal, onToken: () => stop.abort(reason), onTool: () => {} };
    await expect(runTurn(agent(new DemoModel({ tokenDelayMs: 0 })), emptyState(), "hello", undefined, observer)).rejects.toBe(reason);
  });
});
