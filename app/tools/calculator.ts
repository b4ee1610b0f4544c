import { z } from "zod";
import { defineTool } from "./tool.js";

// The parser recurses once per bracket or sign: the length bounds its depth (64 KB of brackets
// overflowed the stack) and its time.
export const MAX_EXPRESSION_CHARS = 500;

/**
 * Evaluates arithmetic: numbers, `+ - * / %`, `^` (power, right-associative), unary minus and
 * parentheses. A small recursive-descent parser, because `eval` on model output is never safe.
 *
 *   expr   := term (("+" | "-") term)*
 *   term   := unary (("*" | "/" | "%") unary)*
 *   unary  := ("-" | "+") unary | power
 *   power  := atom ("^" unary)?
 *   atom   := number | "(" expr ")"
 */
export function evaluate(expression: string): number {
  if (expression.length > MAX_EXPRESSION_CHARS) throw new Error(`the expression is longer than ${MAX_EXPRESSION_CHARS} characters`);
  const tokens = expression.match(/\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+|\S/gi) ?? [];
  let pos = 0;
  const peek = () => tokens[pos];
  const fail = (what: string): never => {
    throw new Error(`${what} at token ${pos + 1} of ${JSON.stringify(expression)}`);
  };

  const expr = (): number => {
    let value = term();
    while (peek() === "+" || peek() === "-") value = tokens[pos++] === "+" ? value + term() : value - term();
    return value;
  };
  const term = (): number => {
    let value = unary();
    for (let op = peek(); op === "*" || op === "/" || op === "%"; op = peek()) {
      pos++;
      const right = unary();
      value = op === "*" ? value * right : op === "/" ? value / right : value % right;
    }
    return value;
  };
  const unary = (): number => {
    if (peek() === "-") return pos++, -unary();
    if (peek() === "+") return pos++, unary();
    return power();
  };
  const power = (): number => {
    const base = atom();
    if (peek() !== "^") return base;
    pos++;
    return base ** unary();
  };
  const atom = (): number => {
    const token = peek();
    if (token === undefined) return fail("unexpected end");
    pos++;
    if (token === "(") {
      const value = expr();
      if (tokens[pos++] !== ")") fail("missing )");
      return value;
    }
    if (/^[\d.]/.test(token)) return Number(token);
    return fail(`unexpected ${JSON.stringify(token)}`);
  };

  if (tokens.length === 0) fail("empty expression");
  const value = expr();
  if (pos < tokens.length) fail(`unexpected ${JSON.stringify(tokens[pos])}`);
  if (!Number.isFinite(value)) throw new Error(`${expression} has no finite value (division by zero?)`);
  // 12 significant digits hide binary rounding noise: 0.1 + 0.2 = 0.3.
  return Number(value.toPrecision(12));
}

export const calculatorTool = defineTool({
  name: "calculator",
  description: "Evaluate an arithmetic expression exactly, e.g. (2 + 3) * 4 ^ 2 / 7. Supports + - * / % ^ and parentheses.",
  parameters: z.object({ expression: z.string().min(1).max(MAX_EXPRESSION_CHARS).describe("the arithmetic expression") }),
  run: ({ expression }) => `${expression.trim()} = ${evaluate(expression)}`,
});
