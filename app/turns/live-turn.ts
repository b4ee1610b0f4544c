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
  /** Stops the producer's run, with the reason "cancelled" (Stop) or "lost" (the lease). */
  readonly stop = new AbortController();

  constructor(turnId: string, threadId: string) {
    this.turnId = turnId;
    this.threadId = threadId;
    this.#woken = new Promise((resolve) => (this.#wake = resolve));
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
    for await (const event of this.after(Number.MAX_SAFE_INTEGER, signal)) last = event;
    return last;
  }

  /**
   * The events after `afterId`, then each one as it comes, to the final event, which ends it
   * whatever `afterId` said; ends early when `signal` aborts.
   */
  async *after(afterId: number, signal: AbortSignal): AsyncGenerator<TurnEvent> {
    const aborted = new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    // Ids are 1, 2, 3…, event n at index n - 1, but for an INTERRUPTED end (its id follows the
    // turn's reservation): start at that index (at most the last event's) and skip by id.
    let next = Math.min(Math.max(0, afterId), Math.max(0, this.#events.length - 1));
    while (!signal.aborted) {
      while (next < this.#events.length) {
        const event = this.#events[next++]!;
        if (event.id > afterId) yield event;
      }
      if (this.#ended) {
        const final = this.#events.at(-1)!;
        if (final.id <= afterId) yield final;
        return;
      }
      await Promise.race([this.#woken, aborted]);
    }
  }
}
