import { describe, expect, it } from "vitest";
import { calculatorTool, evaluate, MAX_EXPRESSION_CHARS } from "../../app/tools/calculator.js";
import { Toolbox } from "../../app/tools/tool.js";

// The parser recurses once per bracket or sign; without a cap, 64 KB of brackets (a message the
// body limit lets through) overflowed the stack.
describe("calculator: bounded work", () => {
  const nested = (depth: number) => "(".repeat(depth) + "1+1" + ")".repeat(depth);

  it("refuses an expression longer than the cap, by a clear error rather than a stack overflow", () => {
    expect(() => evaluate(nested(32_000))).toThrow(`the expression is longer than ${MAX_EXPRESSION_CHARS} characters`);
    expect(() => evaluate("1+".repeat(MAX_EXPRESSION_CHARS / 2) + "1")).toThrow(/longer than/);
  });

  it("evaluates the deepest and longest expressions within the cap", () => {
    const depth = (MAX_EXPRESSION_CHARS - 3) / 2;
    expect(evaluate(nested(Math.floor(depth)))).toBe(2);
    expect(evaluate("-".repeat(MAX_EXPRESSION_CHARS - 1) + "1")).toBe(-1);
  });

  it("tells the model the cap, and refuses a longer expression as invalid arguments", () => {
    const toolbox = new Toolbox([calculatorTool]);
    expect(toolbox.specs[0]?.parameters).toMatchObject({ properties: { expression: { maxLength: MAX_EXPRESSION_CHARS } } });
    expect(toolbox.call("calculator", JSON.stringify({ expression: nested(32_000) }))).toMatch(/^Error: invalid arguments: .*500 characters/);
  });
});
