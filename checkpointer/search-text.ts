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

/** About `width` characters of text around the first query word found, on one line. */
export function snippet(text: string, query: string, width = 160): string {
  const lower = text.toLowerCase();
  let at = -1;
  for (const term of queryTerms(query)) {
    const i = lower.indexOf(term);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  const start = Math.max(0, (at < 0 ? 0 : at) - Math.floor(width / 3));
  const piece = [...text.slice(start, start + width * 2)].slice(0, width).join("");
  return `${start > 0 ? "…" : ""}${piece.replace(/\s+/g, " ").trim()}${start + piece.length < text.length ? "…" : ""}`;
}
