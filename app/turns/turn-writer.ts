import type { Logger } from "pino";
import { isCheckpointerError, type TurnEvent, type TurnLog } from "../../checkpointer/index.js";

export interface TurnWriterSettings {
  leaseMs: number;
  /** Events wait at most this long before they are written (a batch per flush: bounded cost per token). */
  flushMs: number;
  /** A batch is written at once when it reaches this many events. */
  maxBatch: number;
}

/**
 * The producer's side of the turn log: stores a running turn's events in batches, one flush at a
 * time, and renews the turn's lease with each flush (and on a timer while nothing happens). A
 * flush also reports a stop asked for on another replica; a lost lease (a reader ended the turn)
 * means the producer must stop. A store that fails a flush keeps the events for the next one.
 */
export class TurnWriter {
  readonly #log: TurnLog;
  readonly #turnId: string;
  readonly #settings: TurnWriterSettings;
  readonly #logger: Logger;
  readonly #onStop: (reason: "cancelled" | "lost") => void;
  #pending: TurnEvent[] = [];
  #flushing: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  readonly #renewal: NodeJS.Timeout;

  constructor(log: TurnLog, turnId: string, settings: TurnWriterSettings, logger: Logger, onStop: (reason: "cancelled" | "lost") => void) {
    this.#log = log;
    this.#turnId = turnId;
    this.#settings = settings;
    this.#logger = logger;
    this.#onStop = onStop;
    // Three renewals per lease (at least one a second, so a stop asked elsewhere is seen soon).
    this.#renewal = setInterval(() => void this.#flush(), Math.min(1_000, Math.floor(settings.leaseMs / 3)));
  }

  /** Queues an event to be stored with the next batch. */
  add(event: TurnEvent): void {
    this.#pending.push(event);
    if (this.#pending.length >= this.#settings.maxBatch) void this.#flush();
    else this.#timer ??= setTimeout(() => void this.#flush(), this.#settings.flushMs);
  }

  /** Stores what is pending now; resolves when it is stored (or failed and kept). */
  flush(): Promise<void> {
    return this.#flush();
  }

  /** Stores the pending events and the final one, ending the turn; stops renewing. Throws as `TurnLog.finish`. */
  async finish(outcome: TurnEvent, status: "done" | "failed"): Promise<void> {
    this.#stopTimers();
    await this.#flushing;
    const events = this.#pending;
    this.#pending = [];
    await this.#log.finish(this.#turnId, events, outcome, status);
  }

  /** Stops renewing without ending the turn (the process is going away: its lease lapses, and readers see INTERRUPTED). */
  abandon(): void {
    this.#stopTimers();
  }

  #stopTimers(): void {
    clearInterval(this.#renewal);
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    // One flush at a time, in order: events that arrive meanwhile make the next batch.
    this.#flushing = this.#flushing.then(async () => {
      const batch = this.#pending;
      this.#pending = [];
      try {
        const { cancelRequested } = await this.#log.append(this.#turnId, batch, this.#settings.leaseMs);
        if (cancelRequested) this.#onStop("cancelled");
      } catch (error) {
        if (isCheckpointerError(error, "CONFLICT")) {
          this.#stopTimers();
          this.#onStop("lost");
          return;
        }
        // Kept for the next flush, in order; the lease lapses if the store stays away.
        this.#pending = [...batch, ...this.#pending];
        this.#logger.warn({ err: error, turnId: this.#turnId }, "storing a turn's events failed; trying again with the next batch");
      }
    });
    return this.#flushing;
  }
}
