import type { TurnEvent } from "../../checkpointer/index.js";

/**
 * Readers wake this long after an event that is not the last (the final one wakes them at once): a
 * fast model's tokens then go to the socket in one write per few dozen rather than one each, and
 * the wait is far below what a reader could notice.
 */
const COALESCE_MS = 1;

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
  /** Readers waiting for the next event; made only when one waits, not per event. */
  #waiting: { promise: Promise<void>; wake: () => void } | undefined;
  #wakeTimer: NodeJS.Timeout | undefined;
  /** Stops the producer's run, with the reason "cancelled" (Stop) or "lost" (the lease). */
  readonly stop = new AbortController();

  constructor(turnId: string, threadId: string) {
    this.turnId = turnId;
    this.threadId = threadId;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Adds the next event; `final` ends the turn (a `done` or `error`). */
  push(event: TurnEvent, final = false): void {
    if (this.#ended) return;
    this.#events.push(event);
    this.#ended = final;
    if (final) this.#wake();
    else if (this.#waiting) this.#wakeTimer ??= setTimeout(() => this.#wake(), COALESCE_MS);
  }

  /**
   * The events after `afterId`, then the ones that come, in batches (all there are each time the
   * reader asks), to the final event, which ends it whatever `afterId` said; ends early when
   * `signal` aborts.
   */
  async *after(afterId: number, signal: AbortSignal): AsyncGenerator<TurnEvent[]> {
    // Wakes every waiting reader, which is harmless: the others find nothing new and wait again.
    const onAbort = () => this.#wake();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      // Ids are 1, 2, 3…, event n at index n - 1, but for an INTERRUPTED end (its id follows the
      // turn's reservation): start at that index (at most the last event's) and skip by id.
      let next = Math.min(Math.max(0, afterId), Math.max(0, this.#events.length - 1));
      while (!signal.aborted) {
        const batch = this.#events.slice(next).filter((event) => event.id > afterId);
        next = this.#events.length;
        if (this.#ended) {
          const final = this.#events.at(-1)!;
          yield final.id <= afterId ? [final] : batch;
          return;
        }
        if (batch.length > 0) yield batch;
        else await this.#next();
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  #wake(): void {
    clearTimeout(this.#wakeTimer);
    this.#wakeTimer = undefined;
    this.#waiting?.wake();
    this.#waiting = undefined;
  }

  #next(): Promise<void> {
    if (!this.#waiting) {
      let wake!: () => void;
      const promise = new Promise<void>((resolve) => (wake = resolve));
      this.#waiting = { promise, wake };
    }
    return this.#waiting.promise;
  }
}
