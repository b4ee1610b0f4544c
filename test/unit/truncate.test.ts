import { describe, expect, it } from "vitest";
import { truncate } from "../../app/agent/truncate.js";

const codePoints = (s: string) => [...s].length;
// In a /u pattern a pair is one code point: \p{Cs} matches only a lone surrogate.
const wellFormed = (s: string) => !/\p{Cs}/u.test(s);

describe("truncate", () => {
  it("keeps text within the limit as it is", () => {
    expect(truncate("hello", 80)).toBe("hello");
    // 50 emoji are 100 UTF-16 units but 50 code points.
    const emoji = "🧵".repeat(50);
    expect(truncate(emoji, 80)).toBe(emoji);
  });

  it("never cuts a surrogate pair: an emoji straddling the limit is left out whole", () => {
    const text = "x".repeat(79) + "🧵" + "tail";
    expect(wellFormed(text.slice(0, 80))).toBe(false);
    expect(truncate(text, 80)).toBe("x".repeat(79) + "🧵");
    const over = "x".repeat(80) + "🧵";
    expect(truncate(over, 80)).toBe("x".repeat(80));
  });

  it("never cuts a grapheme: a ZWJ family, a skin tone, a flag or an accent stays whole or goes", () => {
    for (const grapheme of ["👩‍👩‍👧‍👦", "👍🏽", "🇫🇷", "e\u0301"]) {
      for (let lead = 70; lead <= 80; lead++) {
        const cut = truncate("x".repeat(lead) + grapheme + "yyyy", 80);
        const fits = lead + codePoints(grapheme) <= 80;
        expect(cut).toBe("x".repeat(lead) + (fits ? grapheme : "") + (fits ? "yyyy".slice(0, 80 - lead - codePoints(grapheme)) : ""));
        expect(wellFormed(cut)).toBe(true);
      }
    }
  });

  it("cuts between code points a single grapheme longer than the limit (stacked combining marks)", () => {
    const zalgo = "a" + "\u0301".repeat(60_000);
    const cut = truncate(zalgo, 80);
    expect(cut).toBe("a" + "\u0301".repeat(79));
    const emojiMarks = "🧵" + "\u0301".repeat(200);
    expect(truncate(emojiMarks, 80)).toBe("🧵" + "\u0301".repeat(79));
  });
});
