// Realistic agent states in the Locus shape the example app saves (app/agent/state.ts): a
// conversation of user turns, assistant tool calls, tool results and answers. Text is
// pseudo-English from a fixed vocabulary, so full-text indexing does real work.

import type { AgentState, Message } from "../app/agent/state.js";

const WORDS = (
  "the a to of and in is for on with that this it be as are from or by at can you your we our an " +
  "weather forecast tokyo paris berlin trip flight hotel booking price budget week weekend morning evening " +
  "database query index latency checkpoint thread message search result error retry timeout server client " +
  "typescript function module import export promise async await json schema table column migration backup " +
  "customer order invoice refund shipping address payment card account password reset email support ticket " +
  "summary report chart revenue growth quarter forecast plan meeting calendar reminder note document draft"
).split(" ");

/** A small deterministic PRNG (mulberry32), so every run saves the same states. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sentence(random: () => number, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(WORDS[Math.floor(random() * WORDS.length)]!);
  const text = out.join(" ");
  return `${text[0]!.toUpperCase()}${text.slice(1)}.`;
}

/** One user turn: question, a tool call, its result, the answer. */
export function turn(random: () => number, n: number): Message[] {
  const id = `call_${n.toString(36).padStart(6, "0")}`;
  const args = JSON.stringify({ query: sentence(random, 6), limit: 5, filters: { since: "2026-01-01", tags: ["bench", `t${n}`] } });
  return [
    { role: "user", content: sentence(random, 15) },
    { role: "assistant", content: "", toolCalls: [{ id, name: "search_docs", arguments: args }] },
    { role: "tool", toolCallId: id, name: "search_docs", content: JSON.stringify({ hits: [sentence(random, 25), sentence(random, 25)] }) },
    { role: "assistant", content: sentence(random, 35) },
  ];
}

/** A state whose JSON is at least `bytes` long (one turn is about 1 KB). */
export function makeState(bytes: number, seed = 1): AgentState {
  const random = prng(seed);
  const state: AgentState = { messages: [], iteration: 0, metadata: { title: sentence(random, 8) } };
  let size = JSON.stringify(state).length;
  while (size < bytes) {
    const added = turn(random, state.iteration);
    state.messages.push(...added);
    state.iteration++;
    size += JSON.stringify(added).length;
  }
  return state;
}

export const SIZES = { "1KB": 1024, "100KB": 100 * 1024, "1MB": 1024 * 1024 } as const;
export type SizeName = keyof typeof SIZES;

/** The state after a turn: its messages appended, one iteration more (as each long-conversation and storage run builds it). */
export function nextState(state: AgentState, added: Message[]): AgentState {
  return { ...state, messages: [...state.messages, ...added], iteration: state.iteration + 1 };
}
