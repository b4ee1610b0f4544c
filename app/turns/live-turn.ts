import type { TurnEvent } from "../../checkpointer/index.js";

/**
 * A turn running in this process, as its readers here see it: every event so far, in order, and
 * a wake-up for readers waiting for the next. Readers on other replicas read the turn log instead.
 */
export class LiveTurn {
  readonly turnId: string;
  /** The storage thread id (tenant-prefixed), to check a reader may see it. */
  readonly threadId: string;
  readonly #events: TurnEvent[] = [];
  #ended = false;
  #wake: (() => void) | undefined;
  #woken: Promise<void>;
  /** Stops the producer's run (Stop, or a lost lease). */
  readonly stop = new AbortController();

  constructor(turnId: string, threadId: string) {
    this.turnId = turnId;
    this.threadId = threadId;
    this.#woken = new Promise((resolve) => (this.#wake = resolve));
  }

  get lastId(): number {
    return this.#events.at(-1)?.id ?? 0;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Adds the next event; `final` ends the turn (a `done` or `error`). */
  push(event: TurnEvent, final = false): void {
    if (this.#ended) return;
    this.#events.push(event);
    this.#ended = final;
    const wake = this.#wake;
    this.#woken = new Promise((resolve) => (this.#wake = resolve));
    wake?.();
  }

  /** The final event, once the turn has ended; null when `signal` aborts first. */
  async final(signal: AbortSignal): Promise<TurnEvent | null> {
    let last: TurnEvent | null = null;
    for await (const event of this.after(this.lastId - 1, signal)) last = event;
    return this.#ended ? last : null;
  }

  /** The events after `afterId`, then each one as it comes, to the final event; ends early when `signal` aborts. */
  async *after(afterId: number, signal: AbortSignal): AsyncGenerator<TurnEvent> {
    const aborted = new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    // Ids are 1, 2, 3…: event n is at index n - 1.
    let next = Math.max(0, afterId);
    while (!signal.aborted) {
      while (next < this.#events.length) yield this.#events[next++]!;
      if (this.#ended) return;
      await Promise.race([this.#woken, aborted]);
    }
  }
}
