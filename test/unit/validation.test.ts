import { describe, expect, it } from "vitest";
import { CheckpointerError, jsonSerializer } from "../../checkpointer/index.js";
import { canonicalJson, compareCodePoints } from "../../checkpointer/backend-shared.js";
import { toWellFormed, validateId, validateMetadata } from "../../checkpointer/validation.js";
import { defaultSearchText, snippet } from "../../checkpointer/search-text.js";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as CheckpointerError).code;
  }
  return undefined;
}

describe("ids", () => {
  it("accepts any Unicode up to 255 code points and rejects the rest", () => {
    for (const ok of ["a", "a:b", "50%_", "it's", "🧵", "x".repeat(255), "😀".repeat(255), " padded ", "\u0000nul"]) expect(validateId(ok)).toBe(ok);
    for (const bad of ["", "x".repeat(256), "😀".repeat(256), "\ud83d", "a\udc00", 1, null, undefined, {}]) expect(codeOf(() => validateId(bad))).toBe("INVALID_INPUT");
  });
});

describe("metadata", () => {
  it("accepts plain JSON objects only", () => {
    expect(validateMetadata({ a: [1, { b: null }], c: "x" })).toEqual({ a: [1, { b: null }], c: "x" });
    expect(validateMetadata(undefined)).toEqual({});
    for (const bad of [[], "x", null, { d: new Date() }, { n: Number.POSITIVE_INFINITY }, { f: () => 1 }, { u: undefined }, new Map()]) {
      expect(codeOf(() => validateMetadata(bad))).toBe("INVALID_INPUT");
    }
  });
});

describe("canonicalJson and ordering", () => {
  it("gives equal values equal text, and keeps types apart", () => {
    expect(canonicalJson({ b: 1, a: [2, { d: 1, c: 2 }] })).toBe(canonicalJson({ a: [2, { c: 2, d: 1 }], b: 1 }));
    expect(canonicalJson(1)).not.toBe(canonicalJson("1"));
    expect(canonicalJson(null)).toBe("null");
  });

  it("orders by code point like MySQL's binary collations, not by UTF-16 unit", () => {
    // U+FF5E sorts before U+1F600 by code point; UTF-16 units say the opposite.
    expect(compareCodePoints("\uff5e", "😀")).toBeLessThan(0);
    expect("\uff5e" < "😀").toBe(false);
  });
});

describe("jsonSerializer", () => {
  const serializer = jsonSerializer<unknown>();

  it("round-trips JSON and keeps toJSON conversions", () => {
    const state = { messages: [{ role: "user", content: "hi \ud83d\ude00" }], n: 1.5, when: new Date(0) };
    expect(serializer.deserialize(serializer.serialize(state))).toEqual({ ...state, when: "1970-01-01T00:00:00.000Z" });
  });

  it("refuses what JSON would silently drop or mangle, naming where", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.me = cyclic;
    for (const [bad, mention] of [
      [{ a: 1n }, "bigint"],
      [{ a: () => 1 }, "function"],
      [{ a: Symbol("s") }, "symbol"],
      [{ a: Number.NaN }, "NaN"],
      [{ a: new Set() }, "Set"],
      [cyclic, "circular"],
      [undefined, "serialisable"],
    ] as const) {
      let error: unknown;
      try {
        serializer.serialize(bad);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CheckpointerError);
      expect((error as CheckpointerError).code).toBe("INVALID_INPUT");
      expect((error as Error).message).toContain(mention);
    }
  });
});

describe("search text", () => {
  it("takes message contents, including text parts", () => {
    const state = { messages: [{ content: "hello" }, { content: [{ type: "text", text: "part one" }, { type: "image_url" }] }, { content: 42 }, null] };
    expect(defaultSearchText(state)).toBe("hello\npart one");
    expect(defaultSearchText(null)).toBe("");
    expect(defaultSearchText({ messages: "nope" })).toBe("");
  });

  it("makes a one-line snippet around the first match", () => {
    const text = `${"filler ".repeat(100)}the word Tokyo\nappears here ${"more ".repeat(100)}`;
    const s = snippet(text, ["tokyo"]);
    expect(s).toContain("Tokyo appears");
    expect(s.length).toBeLessThanOrEqual(162);
    expect(s.startsWith("…")).toBe(true);
  });

  it("never starts a snippet inside a character, and finds words whose lower case is longer", () => {
    const s = snippet(`a${"🧵".repeat(40)}  okapi`, ["okapi"]);
    expect(toWellFormed(s)).toBe(s);
    expect(s).toContain("okapi");
    expect(snippet(`${"İ".repeat(100)} walnut`, ["walnut"])).toContain("walnut");
  });
});
