/**
 * What full-text search sees of a state. By default the `content` of each entry of
 * `state.messages` (strings, or OpenAI-style parts with a `text` field), one per line.
 */
export function defaultSearchText(state: unknown): string {
  const messages = (state as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(messages)) return "";
  const lines: string[] = [];
  for (const message of messages) {
    const content = (message as { content?: unknown } | null)?.content;
    if (typeof content === "string") lines.push(content);
    else if (Array.isArray(content)) {
      for (const part of content) {
        const text = (part as { text?: unknown } | null)?.text;
        if (typeof text === "string") lines.push(text);
      }
    }
  }
  return lines.join("\n");
}

/** Lower-cased words of a query, as the in-process backends match them. */
export function queryTerms(query: string): string[] {
  return [...new Set(query.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [])];
}

/** Occurrences of the query's words in the text; 0 means no match. */
export function termScore(text: string, terms: string[]): number {
  const words = text.toLowerCase().match(/[\p{L}\p{N}_]+/gu) ?? [];
  const wanted = new Set(terms);
  return words.reduce((n, w) => (wanted.has(w) ? n + 1 : n), 0);
}

/** Whether the text holds any of the words (`|`-separated, lower-case), as a substring: a cheap first filter. */
export function containsAny(text: string, words: string): boolean {
  const lower = text.toLowerCase();
  return words.split("|").some((word) => word !== "" && lower.includes(word));
}

/**
 * About `width` characters of text around the first of the words found (case-insensitive), on
 * one line, never cutting a character in two.
 */
export function snippet(text: string, terms: readonly string[], width = 160): string {
  let at = -1;
  // The terms are letters, digits and `_` only: an alternation of literals, matched in one pass.
  if (terms.length > 0) at = text.search(new RegExp(terms.join("|"), "iu"));
  let start = Math.max(0, (at < 0 ? 0 : at) - Math.floor(width / 3));
  if (isLowSurrogate(text.charCodeAt(start))) start++;
  const piece = Array.from(text.slice(start, start + width * 2)).slice(0, width).join("");
  return `${start > 0 ? "…" : ""}${piece.replace(/\s+/g, " ").trim()}${start + piece.length < text.length ? "…" : ""}`;
}

const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;
