import { setTimeout as sleep } from "node:timers/promises";
import type { Message } from "../agent/state.js";
import type { CompleteOptions, Model, ModelReply, ModelRequest } from "./model.js";

// Said only when asked ("help", "what can you do", "who are you"): every reply is stored, and
// searched, so text the model put into every thread would make every thread match its words.
const HELP =
  "I'm the offline demo model (no OPENAI_API_KEY is set): my replies are canned, but this conversation is really stored. " +
  'I can remember your name ("My name is Alex", later "Who am I?"), tell the time ("What time is it?") and calculate ("Calculate 2+3").';

const ASKS_HELP = /\b(?:help|what can you do|who are you|what are you)\b/i;

/**
 * The reply to any other message: the message quoted, and how many messages from the user the
 * model saw (so a test can tell it was answered on the whole history), with no word of its own.
 */
export function echoReply(text: string, userMessages: number): string {
  return `"${text}" (#${userMessages})`;
}

const ASKS_TIME = /\b(what(?:'s| is) the (?:current )?time|what time is it|current time|time now)\b/i;
// "calculate 2+3", "what is (2 + 3) * 4": a keyword, then digits with at least one operator between
// two of them. The keyword alone is matched by a pattern; the expression after it is scanned by
// hand (mathAfter), since a pattern for "digit, operator, digit" over the same characters
// backtracks in cubic time on input such as "calculate 111…+++…".
const MATH_KEYWORD = /\b(?:calculate|compute|what(?:'s| is))\s+/gi;
const MATH_CHARS = new Set("-+*/%^().0123456789 \t\n\r");
const OPERATORS = new Set("-+*/%^");
const ASKS_NAME = /\b(who am i|what(?:'s| is) my name)\b/i;
const MY_NAME_IS = /\b(?:my name is|call me)\s+(\p{L}[\p{L}'-]*)/iu;
// After "I'm" only a capitalised word is a name: "I'm Alex", but not "I'm fine".
const I_AM = /\b[Ii](?:['’]m| am)\s+(\p{Lu}[\p{L}'-]*)/u;

/**
 * The arithmetic expression asked for in this text, if any: the run of expression characters after
 * the first math keyword that holds a digit, then an operator, then a digit, cut after its last
 * digit (and any closing brackets). One pass over the text: the runs after different keywords
 * never overlap, because a keyword's letters end a run.
 */
function mathIn(text: string): string | undefined {
  for (const keyword of text.matchAll(MATH_KEYWORD)) {
    const start = keyword.index + keyword[0].length;
    let end = start;
    let sawDigit = false;
    let sawOperatorAfterDigit = false;
    let lastDigitAfterOperator = -1;
    for (; end < text.length && MATH_CHARS.has(text[end]!); end++) {
      const c = text[end]!;
      if (c >= "0" && c <= "9") {
        if (sawOperatorAfterDigit) lastDigitAfterOperator = end;
        sawDigit = true;
      } else if (sawDigit && OPERATORS.has(c)) sawOperatorAfterDigit = true;
    }
    if (lastDigitAfterOperator < 0) continue;
    let cut = lastDigitAfterOperator + 1;
    while (cut < end && (text[cut] === ")" || /\s/.test(text[cut]!))) cut++;
    return text.slice(start, cut).trim();
  }
  return undefined;
}

/** The name the user gave in this text, if any. */
function nameIn(text: string): string | undefined {
  const given = MY_NAME_IS.exec(text)?.[1];
  if (given) return given[0]!.toUpperCase() + given.slice(1);
  return I_AM.exec(text)?.[1];
}

/**
 * A deterministic, offline stand-in for a language model: answers from the conversation
 * history and calls the example tools, so the template works with no API key and tests can
 * assert exact behaviour.
 */
export class DemoModel implements Model {
  readonly name = "demo";
  readonly #tokenDelayMs: number;

  /** `tokenDelayMs`: the pause between the words of a streamed reply, so a page can be seen streaming. */
  constructor(options: { tokenDelayMs?: number } = {}) {
    this.#tokenDelayMs = options.tokenDelayMs ?? 10;
  }

  async complete(request: ModelRequest, { signal, onToken }: CompleteOptions = {}): Promise<ModelReply> {
    signal?.throwIfAborted();
    const reply = this.#answer(request);
    // A demo has no tokenizer: about four characters a token, so traces and metrics have numbers.
    const chars = request.system.length + request.messages.reduce((n, m) => n + m.content.length, 0);
    reply.usage = { inputTokens: Math.ceil(chars / 4), outputTokens: Math.ceil(reply.content.length / 4) };
    reply.finishReason = reply.toolCalls.length > 0 ? "tool_calls" : "stop";
    reply.responseModel = "demo";
    if (onToken && reply.content !== "") {
      // Word by word, each with the whitespace after it, so the pieces add up to the reply.
      for (const piece of reply.content.split(/(?<=\s)(?=\S)/)) {
        onToken(piece);
        await sleep(this.#tokenDelayMs);
        signal?.throwIfAborted();
      }
    }
    return reply;
  }

  /**
   * A reply made of what the user said and what was asked for: the fixed wording of one kind of
   * reply appears only in threads that asked for it, so searching its words does not match every thread.
   */
  #answer({ messages, tools }: ModelRequest): ModelReply {
    const last = messages.at(-1);
    if (last?.role === "tool") return { content: this.#describeToolResult(last), toolCalls: [] };
    const text = last?.role === "user" ? last.content : "";
    const has = (name: string) => tools.some((t) => t.name === name);
    const callId = `demo-call-${messages.length}`;

    if (has("current_time") && ASKS_TIME.test(text)) {
      return { content: "", toolCalls: [{ id: callId, name: "current_time", arguments: "{}" }] };
    }
    const math = has("calculator") ? mathIn(text) : undefined;
    if (math) {
      return { content: "", toolCalls: [{ id: callId, name: "calculator", arguments: JSON.stringify({ expression: math }) }] };
    }
    const told = nameIn(text);
    if (told) return { content: `Nice to meet you, ${told}! I'll remember that.`, toolCalls: [] };
    if (ASKS_NAME.test(text)) return { content: this.#recallName(messages), toolCalls: [] };
    if (ASKS_HELP.test(text)) return { content: HELP, toolCalls: [] };
    return { content: echoReply(text, messages.filter((m) => m.role === "user").length), toolCalls: [] };
  }

  #recallName(messages: readonly Message[]): string {
    // The latest introduction wins ("call me Sam" after "my name is Alex").
    for (let i = messages.length - 1; i >= 0; i--) {
      const m = messages[i]!;
      const name = m.role === "user" ? nameIn(m.content) : undefined;
      if (name) return `You are ${name} — you told me earlier in this conversation.`;
    }
    return 'I don\'t know your name yet. Tell me with "My name is …".';
  }

  #describeToolResult(result: Extract<Message, { role: "tool" }>): string {
    if (result.content.startsWith("Error:")) return `The ${result.name} tool failed: ${result.content.slice(7)}`;
    if (result.name === "calculator") return `${result.content} (worked out with the calculator tool).`;
    if (result.name === "current_time") return `It is ${result.content} (from the current_time tool).`;
    return `The ${result.name} tool says: ${result.content}`;
  }
}
