// Turns over HTTP, one at a time or as a steady load, each recorded with its answer and timing.
import { setTimeout as sleep } from "node:timers/promises";

export interface Turn {
  threadId: string;
  content: string;
  /** Epoch milliseconds. */
  startedAt: number;
  endedAt: number;
  /** 0 when no HTTP answer came (connection refused or reset, timeout). */
  status: number;
  /** The raw response body, or the network error. */
  body: string;
  /** From a 200: the checkpoint that holds the turn. */
  checkpointId?: string;
}

/** No request may take longer than this: a request still running then counts as a hang (status 0). */
export const REQUEST_TIMEOUT_MS = 30_000;

/** One turn: POST /threads/:threadId/messages. Never throws. */
export async function sendTurn(baseUrl: string, threadId: string, content: string, headers: Record<string, string> = {}): Promise<Turn> {
  const startedAt = Date.now();
  try {
    const response = await fetch(`${baseUrl}/threads/${encodeURIComponent(threadId)}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ content }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const body = await response.text();
    const checkpointId = response.status === 200 ? (JSON.parse(body) as { checkpointId: string }).checkpointId : undefined;
    return { threadId, content, startedAt, endedAt: Date.now(), status: response.status, body, ...(checkpointId && { checkpointId }) };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return { threadId, content, startedAt, endedAt: Date.now(), status: 0, body: `${(error as Error).name}: ${cause ?? (error as Error).message}` };
  }
}

export interface Load {
  /** Every finished turn so far, in order of completion. */
  readonly turns: Turn[];
  /** Lets running turns finish and starts no new one. */
  stop(): void;
  /** Resolves with all turns once the load has stopped (or `total` were sent). */
  done: Promise<Turn[]>;
}

/**
 * `concurrency` clients sending turns round-robin over `threads` until `stop()`, or until
 * `total` turns were sent. Turn n says "<thread> turn <n>", so every message is unique (and
 * asks the demo model for no tool).
 */
export function startLoad(options: { url: string; threads: readonly string[]; concurrency: number; total?: number }): Load {
  const turns: Turn[] = [];
  let next = 0;
  let stopped = false;
  const more = () => !stopped && (options.total === undefined || next < options.total);
  const client = async () => {
    while (more()) {
      const n = next++;
      const threadId = options.threads[n % options.threads.length]!;
      turns.push(await sendTurn(options.url, threadId, `${threadId} turn ${n}`));
    }
  };
  const done = Promise.all(Array.from({ length: options.concurrency }, client)).then(() => turns);
  return { turns, stop: () => void (stopped = true), done };
}

/** Polls `condition` every 50 ms; throws after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export const acknowledged = (turns: readonly Turn[]) => turns.filter((t) => t.status === 200);
