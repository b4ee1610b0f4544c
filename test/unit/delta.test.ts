import { describe, expect, it } from "vitest";
import { applyChain, chainAfter, MAX_CHAIN_DELTAS, appendedText, snapshotChain, spliceOf, type Chain } from "../../checkpointer/delta.js";

const bytes = (s: string) => Buffer.from(s, "utf8");

/** A deterministic pseudo-random generator, so a failure can be replayed. */
function random(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

describe("spliceOf / applyChain", () => {
  it("keeps the common prefix and suffix of a conversation that grew by one message", () => {
    const parent = bytes(JSON.stringify({ messages: [{ role: "user", content: "hi" }] }));
    const next = bytes(JSON.stringify({ messages: [{ role: "user", content: "hi" }, { role: "assistant", content: "hello" }] }));
    const splice = spliceOf(parent, next);
    expect(splice.middle.toString()).toBe(',{"role":"assistant","content":"hello"}');
    expect(splice.prefix + splice.suffix).toBe(parent.length);
    expect(applyChain(parent, [splice])).toEqual(next);
  });

  it("round-trips any pair of documents, multi-byte characters cut in two included", () => {
    const next = random(7);
    const alphabet = ["a", "b", "é", "€", "😀", "\n", '"', "{", "}"];
    const text = (n: number) => Array.from({ length: n }, () => alphabet[Math.floor(next() * alphabet.length)]).join("");
    for (let i = 0; i < 500; i++) {
      const base = text(Math.floor(next() * 40));
      const parent = bytes(base + text(Math.floor(next() * 5)));
      const child = bytes(base.slice(0, Math.floor(next() * base.length)) + text(Math.floor(next() * 6)) + base.slice(Math.floor(next() * base.length)));
      const splice = spliceOf(parent, child);
      expect(applyChain(parent, [splice])).toEqual(child);
      expect(splice.prefix + splice.suffix).toBeLessThanOrEqual(Math.min(parent.length, child.length));
    }
  });

  it("handles identical, empty and entirely different documents", () => {
    expect(spliceOf(bytes("same"), bytes("same")).middle.length).toBe(0);
    expect(applyChain(bytes(""), [spliceOf(bytes(""), bytes("new"))])).toEqual(bytes("new"));
    expect(applyChain(bytes("old"), [spliceOf(bytes("old"), bytes(""))])).toEqual(bytes(""));
    expect(spliceOf(bytes("abc"), bytes("xyz")).middle.toString()).toBe("xyz");
  });

  it("applies a chain of splices in order: every version of an edited, growing and shrinking document", () => {
    const next = random(11);
    const versions = [bytes('{"messages":[]}')];
    for (let i = 0; i < 300; i++) {
      const last = versions.at(-1)!.toString();
      const at = Math.floor(next() * last.length);
      const cut = Math.floor(next() * 4);
      versions.push(bytes(last.slice(0, at) + "ab€😀".slice(0, Math.floor(next() * 5)) + last.slice(Math.min(last.length, at + cut))));
    }
    const splices = versions.slice(1).map((v, i) => spliceOf(versions[i]!, v));
    for (const k of [0, 1, 2, 50, 299, 300]) expect(applyChain(versions[0]!, splices.slice(0, k))).toEqual(versions[k]);
  });

  it("refuses a splice that does not fit the document it is applied to", () => {
    expect(() => applyChain(bytes("ab"), [{ prefix: 2, suffix: 1, middle: bytes("") }])).toThrow(RangeError);
  });
});

describe("appendedText", () => {
  it("is the lines a turn added, or null when lines changed or went", () => {
    expect(appendedText("hi\nhello", "hi\nhello\nMy name is Alex\nNice to meet you")).toBe("My name is Alex\nNice to meet you");
    expect(appendedText("", "first")).toBe("first");
    expect(appendedText("same", "same")).toBe("");
    expect(appendedText("hi\nhello there", "hi\nhello world")).toBeNull();
    expect(appendedText("hi\nhello", "hi\nhello world")).toBeNull(); // a line grew: not a new line
    expect(appendedText("a\nb", "a")).toBeNull();
  });
});

describe("chainAfter: the snapshot policy", () => {
  /** Stores a conversation that grows by `turn` bytes for `turns` turns; what is stored and read. */
  function grow(turns: number, turn: number) {
    let chain: Chain | null = null;
    let stored = 0;
    let worstLoadRatio = 0;
    let worstRows = 0;
    let size = 200;
    for (let i = 0; i < turns; i++) {
      const next = size + turn;
      const splice = { prefix: size - 2, suffix: 2, middle: Buffer.alloc(turn) };
      chain = chain && chainAfter(chain, next, splice);
      if (chain === null) chain = snapshotChain(next);
      stored += chain.deltas === 0 ? next : turn;
      worstLoadRatio = Math.max(worstLoadRatio, (chain.snapshotBytes + chain.deltaBytes) / next);
      worstRows = Math.max(worstRows, chain.deltas + 1);
      size = next;
    }
    return { stored, final: size, worstLoadRatio, worstRows };
  }

  it("keeps a growing conversation's storage within 3x its final size, and every load within 2x its document", () => {
    for (const [turns, turn] of [[1000, 700], [1000, 30], [50, 5000]] as const) {
      const { stored, final, worstLoadRatio, worstRows } = grow(turns, turn);
      expect(stored / final).toBeLessThanOrEqual(3);
      expect(worstLoadRatio).toBeLessThanOrEqual(2);
      expect(worstRows).toBeLessThanOrEqual(1 + MAX_CHAIN_DELTAS);
    }
  });

  it("writes a snapshot when the delta is not smaller, when the document shrank below half, or when the chain is full", () => {
    const parent: Chain = { snapshotBytes: 1000, deltaBytes: 100, deltas: 3 };
    const splice = (n: number) => ({ prefix: 0, suffix: 0, middle: Buffer.alloc(n) });
    expect(chainAfter(parent, 1100, splice(50))).toEqual({ snapshotBytes: 1000, deltaBytes: 150, deltas: 4 });
    expect(chainAfter(parent, 40, splice(40))).toBeNull();
    expect(chainAfter(parent, 499, splice(10))).toBeNull();
    expect(chainAfter(parent, 1100, splice(901))).toBeNull();
    expect(chainAfter({ ...parent, deltas: MAX_CHAIN_DELTAS }, 1100, splice(1))).toBeNull();
  });
});
