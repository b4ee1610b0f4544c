import { describe, expect, it } from "vitest";
import { DEFAULT_SETTINGS } from "../../app/config.js";
import { DemoModel } from "../../app/models/demo.js";
import type { ToolSpec } from "../../app/models/model.js";

// The demo model reads user text with patterns; one that backtracks lets a single request hold the
// process (the old "calculate" pattern took 40 s on 6.4 KB). Each input below is the worst case
// known for one pattern, at the size of the default body limit. The bound is a ceiling far above a
// linear scan (milliseconds) and far below a super-linear one (minutes at this size), not a speed
// measurement.
const BODY_BYTES = Number.parseInt(DEFAULT_SETTINGS.bodyLimit, 10) * 1024;
const CEILING_MS = 1_000;
const n = Math.floor(BODY_BYTES / 2) - 20;

const tools: ToolSpec[] = ["calculator", "current_time"].map((name) => ({ name, description: name, parameters: { type: "object" } }));
const model = new DemoModel({ tokenDelayMs: 0 });

const adversarial: Record<string, string> = {
  "calculate: digits then operators": "calculate " + "1".repeat(n) + "+".repeat(n),
  "calculate: operators between digits, never closed": "calculate " + "1+".repeat(n) + "x",
  "calculate: keywords back to back": "calculate ".repeat(Math.floor(BODY_BYTES / 10)),
  "calculate: spaces and brackets": "what is " + "( ".repeat(n) + "1",
  "my name is: spaces, no name": "my name is" + " ".repeat(2 * n) + "1",
  "I am: spaces, no capital": "I am" + " ".repeat(2 * n) + "x",
  "what time: repeated prefixes": "what is the ".repeat(Math.floor(BODY_BYTES / 12)),
  "help: repeated near misses": "what are yo ".repeat(Math.floor(BODY_BYTES / 12)),
  "whitespace runs": " \t".repeat(n),
};

describe("demo model: no input holds the process", () => {
  for (const [name, text] of Object.entries(adversarial)) {
    it(name, async () => {
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(BODY_BYTES);
      const started = performance.now();
      const reply = await model.complete({ system: "", messages: [{ role: "user", content: text }], tools });
      const elapsed = performance.now() - started;
      expect(reply.content.length + reply.toolCalls.length).toBeGreaterThan(0);
      expect(elapsed).toBeLessThan(CEILING_MS);
    });
  }

  it("still finds the expression the old pattern found", async () => {
    const ask = async (content: string) =>
      (await model.complete({ system: "", messages: [{ role: "user", content }], tools })).toolCalls[0]?.arguments;
    expect(await ask("Calculate 2+3")).toBe('{"expression":"2+3"}');
    expect(await ask("what is (2 + 3) * 4?")).toBe('{"expression":"(2 + 3) * 4"}');
    expect(await ask("compute -1 - -2 please")).toBe('{"expression":"-1 - -2"}');
    expect(await ask("what is 7? calculate 6*7")).toBe('{"expression":"6*7"}');
    expect(await ask("calculate 42")).toBeUndefined();
    expect(await ask("calculate 1+")).toBeUndefined();
  });
});
