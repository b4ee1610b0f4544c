// A client of the API's server-sent events that reads them as they come: each event with its `id:`
// and the time it arrived, a wait for the event a test needs, and a hang-up at any point (what a
// dropped connection or a closed tab does). For the resumable turns' tests.

export interface SseEvent {
  /** The `id:` field as a number; undefined when the event had none. */
  id: number | undefined;
  event: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
  /** performance.now() when its last byte arrived. */
  at: number;
}

/** How a stream ended: the server ended it, the client dropped it, or the connection failed (a killed server). */
export type SseEnd = "ended" | "dropped" | "failed";

export interface SseStream {
  status: number;
  headers: Headers;
  /** The events so far, in order. */
  readonly events: SseEvent[];
  /** The body, when the answer was not an event stream (an error's JSON). */
  readonly text: string;
  /** Resolves once the stream is over, however it ended. */
  readonly closed: Promise<SseEnd>;
  /** The first event (already received or yet to come) that `match` accepts; rejects when the stream ends without one. */
  waitFor(match: (event: SseEvent, index: number) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /** Waits for `n` events of kind `event`, and returns the latest. */
  waitForCount(event: string, n: number, timeoutMs?: number): Promise<SseEvent>;
  /** Hangs up now. */
  drop(): void;
}

/** One event block (`id:`, `event:`, `data:` lines) as the server-sent events format reads it. */
function parseBlock(block: string, at: number): SseEvent | undefined {
  let id: number | undefined;
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") id = Number(value);
    else if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (data.length === 0 && id === undefined) return undefined;
  return { id, event, data: data.length === 0 ? null : JSON.parse(data.join("\n")), at };
}

/**
 * Sends a request that answers with server-sent events and resolves once its headers are in;
 * the events are read in the background into `events`.
 */
export async function openEvents(url: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<SseStream> {
  const abort = new AbortController();
  const response = await fetch(url, {
    method: init.method ?? "GET",
    headers: {
      accept: "text/event-stream",
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: abort.signal,
  });
  const events: SseEvent[] = [];
  let text = "";
  let waiters: (() => void)[] = [];
  let over = false;
  const wake = () => {
    const now = waiters;
    waiters = [];
    for (const waiter of now) waiter();
  };

  const read = async (): Promise<SseEnd> => {
    const isStream = response.headers.get("content-type")?.startsWith("text/event-stream") ?? false;
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return "ended";
        const chunk = decoder.decode(value, { stream: true });
        if (!isStream) {
          text += chunk;
          continue;
        }
        buffer += chunk.replaceAll("\r\n", "\n");
        const at = performance.now();
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const parsed = parseBlock(buffer.slice(0, end), at);
          buffer = buffer.slice(end + 2);
          if (parsed) events.push(parsed);
        }
        wake();
      }
    } catch {
      return abort.signal.aborted ? "dropped" : "failed";
    }
  };
  const closed = read().then((end) => {
    over = true;
    wake();
    return end;
  });

  const waitFor = async (match: (event: SseEvent, index: number) => boolean, timeoutMs = 15_000): Promise<SseEvent> => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = events.find(match);
      if (found) return found;
      if (over) throw new Error(`the stream ended (${await closed}) without the event waited for; it had: ${JSON.stringify(events.map((e) => [e.id, e.event]))}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no such event within ${timeoutMs} ms; the stream had: ${JSON.stringify(events.map((e) => [e.id, e.event]))}`);
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  };

  return {
    status: response.status,
    headers: response.headers,
    events,
    get text() {
      return text;
    },
    closed,
    waitFor,
    waitForCount: (event, n, timeoutMs) =>
      waitFor((e, i) => e.event === event && events.slice(0, i + 1).filter((x) => x.event === event).length === n, timeoutMs),
    drop: () => abort.abort(),
  };
}
