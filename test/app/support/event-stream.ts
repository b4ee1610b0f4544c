// Client side of the API's server-sent events, and raw HTTP requests that fetch would normalise.
import { request as httpRequest } from "node:http";

export interface StreamEvent {
  /** The `id:` field (every event of a turn has one: 1, 2, 3…); undefined when absent. */
  id: number | undefined;
  event: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
}

/** Splits an event-stream body into its events (`id:`, `event:` and one JSON `data:` line each). */
export function parseEvents(text: string): StreamEvent[] {
  return text
    .split("\n\n")
    .filter((block) => block.trim() !== "")
    .map((block) => {
      const field = (name: string) => block.split("\n").find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2);
      const id = field("id");
      return { id: id === undefined ? undefined : Number(id), event: field("event") ?? "message", data: JSON.parse(field("data") ?? "null") };
    });
}

/** `POST /threads/:id/messages` with `Accept: text/event-stream`, read to the end. */
export async function sayStreaming(baseUrl: string, threadId: string, content: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${baseUrl}/threads/${encodeURIComponent(threadId)}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream", ...headers },
    body: JSON.stringify({ content }),
  });
  const text = await response.text();
  const isStream = response.headers.get("content-type")?.startsWith("text/event-stream");
  return { status: response.status, headers: response.headers, events: isStream ? parseEvents(text) : [], text };
}

/**
 * Starts a streamed turn, reads it until its first token, then hangs up (as a closed tab does);
 * returns what it read, and the turn's id (the turn goes on without its client).
 */
export async function hangUpAfterFirstToken(baseUrl: string, threadId: string, content: string): Promise<{ text: string; turnId: string | null }> {
  const abort = new AbortController();
  const response = await fetch(`${baseUrl}/threads/${encodeURIComponent(threadId)}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ content }),
    signal: abort.signal,
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes("event: token")) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  abort.abort();
  return { text, turnId: response.headers.get("x-turn-id") };
}

/**
 * One request with the path sent exactly as given (fetch would resolve `%2E%2E` as `..`) and an
 * optional raw body with no content type unless one is in `headers`.
 */
export function rawRequest(baseUrl: string, method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  const url = new URL(baseUrl);
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }>((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
