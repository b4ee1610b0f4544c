// The heaviest single requests one client can send within the default limits, and a /healthz
// poller to run beside each: the target of issue 21 is that /healthz answers within 100 ms during
// any one of them.
import { setTimeout as sleep } from "node:timers/promises";
import { DEFAULT_SETTINGS } from "../../../app/config.js";
import { getFresh } from "./slow-clients.js";

const BODY_BYTES = Number.parseInt(DEFAULT_SETTINGS.bodyLimit, 10) * 1024;
/** Characters of content that fit the body limit as `{"content":"…"}`, with room for the JSON around it. */
const n = Math.floor(BODY_BYTES / 2) - 20;

/** The worst case known for each pattern and tool the demo model runs on user text, at the body limit's size. */
export const HEAVY_MESSAGES: Record<string, string> = {
  "calculate: digits then operators": "calculate " + "1".repeat(n) + "+".repeat(n),
  "calculate: operators between digits, never closed": "calculate " + "1+".repeat(n) + "x",
  "calculate: keywords back to back": "calculate ".repeat(Math.floor(BODY_BYTES / 10) - 2),
  "calculate: an expression nested 32,000 deep": "calculate " + "(".repeat(n - 2) + "1+1" + ")".repeat(n - 2),
  "calculate: the longest expression the calculator takes, nested": "calculate " + "(".repeat(248) + "1+1" + ")".repeat(248),
  "my name is: spaces, no name": "my name is" + " ".repeat(2 * n - 20) + "1",
  "I am: spaces, no capital": "I am" + " ".repeat(2 * n - 20) + "x",
  "what time: repeated prefixes": "what is the ".repeat(Math.floor(BODY_BYTES / 12) - 2),
  "one-letter words (the longest reply)": "a ".repeat(n),
  "emoji (surrogate pairs, 4 bytes each)": "🧵".repeat(Math.floor(BODY_BYTES / 4) - 10),
};

/** A streamed turn of the longest reply would take minutes (10 ms a word): it is read this long, then stopped. */
export const STREAM_READ_MS = 3_000;

/**
 * One turn, as JSON or streamed; resolves with its status once the answer is read (a stream to its
 * end, or for STREAM_READ_MS, after which the client hangs up and stops the turn, and waits for
 * its end: a hang-up alone leaves a turn running, here for minutes beside the next request).
 */
export async function sendHeavy(url: string, threadId: string, content: string, stream: boolean, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(`${url}/threads/${encodeURIComponent(threadId)}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(stream && { accept: "text/event-stream" }), ...headers },
    body: JSON.stringify({ content }),
    ...(stream && { signal: AbortSignal.timeout(STREAM_READ_MS) }),
  });
  try {
    await response.text();
  } catch (error) {
    if ((error as Error).name !== "TimeoutError") throw error;
    const turnId = response.headers.get("x-turn-id");
    if (turnId) await stopTurn(`${url}/threads/${encodeURIComponent(threadId)}/turns/${turnId}`, headers);
  }
  return response.status;
}

/** Cancels the turn at `turn` (its URL), then reads its final event: a reader past every id gets only that, once the turn has ended. */
async function stopTurn(turn: string, headers: Record<string, string>): Promise<void> {
  await (await fetch(`${turn}/cancel`, { method: "POST", headers })).text();
  const end = await fetch(`${turn}/events`, { headers: { ...headers, "last-event-id": "999999999" } });
  if (end.status !== 200) throw new Error(`the events of the turn at ${turn}: ${end.status}`);
  await end.text();
}

export interface Polled {
  /** Each /healthz answer's time, in ms, and its status. */
  answers: { ms: number; status: number }[];
}

/**
 * Runs `work` while polling `/healthz` on fresh connections, the first poll sent together with the
 * work and the next ones `everyMs` after each answer, until the work is done.
 */
export async function pollHealthDuring<T>(url: string, work: () => Promise<T>, everyMs = 10): Promise<Polled & { result: T }> {
  const answers: Polled["answers"] = [];
  let done = false;
  const poller = (async () => {
    do {
      answers.push(await getFresh(url, "/healthz"));
      await sleep(everyMs);
    } while (!done);
  })();
  try {
    return { result: await work(), answers };
  } finally {
    done = true;
    await poller;
  }
}
