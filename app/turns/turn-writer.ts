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
 *
 * Events reach this process's readers (`publish`) at once, before they are stored, within the ids
 * the turn log has reserved for the turn; past them (the store is slow) they wait for the flush
 * that stores them and reserves more. So an INTERRUPTED event, numbered after the reservation,
 * follows every id a client may have seen.
 */
export class TurnWriter {
  readonly #log: TurnLog;
  readonly #turnId: string;
  readonly #settings: TurnWriterSettings;
  readonly #logger: Logger;
  readonly #onStop: (reason: "cancelled" | "lost") => void;
  readonly #publish: (event: TurnEvent) => void;
  #reservedId: number;
  /** Stored with the next flush. */
  #pending: TurnEvent[] = [];
  /** Past the reservation: published once a flush reserves their ids. */
  #held: TurnEvent[] = [];
  #flushing: Promise<void> = Promise.resolve();
  /** A flush waits behind the one in flight: it will take every event added meanwhile, so no other is queued. */
  #queued = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #renewal: NodeJS.Timeout;

  constructor(
    log: TurnLog,
    turn: { turnId: string; reservedId: number },
    settings: TurnWriterSettings,
    logger: Logger,
    callbacks: { publish: (event: TurnEvent) => void; onStop: (reason: "cancelled" | "lost") => void },
  ) {
    this.#log = log;
    this.#turnId = turn.turnId;
    this.#reservedId = turn.reservedId;
    this.#settings = settings;
    this.#logger = logger;
    this.#publish = callbacks.publish;
    this.#onStop = callbacks.onStop;
    // Three renewals per lease (at least one a second, so a stop asked elsewhere is seen soon).
    this.#renewal = setInterval(() => void this.#flush(), Math.min(1_000, Math.floor(settings.leaseMs / 3)));
  }

  /** The last id the turn log has reserved for this turn. */
  get reservedId(): number {
    return this.#reservedId;
  }

  /** Publishes the event (or holds it past the reservation) and queues it to be stored with the next batch. */
  add(event: TurnEvent): void {
    if (event.id <= this.#reservedId && this.#held.length === 0) this.#publish(event);
    else this.#held.push(event);
    this.#pending.push(event);
    if (this.#pending.length >= this.#settings.maxBatch) void this.#flush();
    else this.#timer ??= setTimeout(() => void this.#flush(), this.#settings.flushMs);
  }

  /**
   * Stores the pending events and the final one, ending the turn; stops renewing. Throws as
   * `TurnLog.finish`; held events are published either way (this process's readers see them all).
   */
  async finish(outcome: TurnEvent, status: "done" | "failed"): Promise<void> {
    this.#stopTimers();
    await this.#flushing;
    const events = this.#pending;
    this.#pending = [];
    try {
      await this.#log.finish(this.#turnId, events, outcome, status);
    } finally {
      this.#release(Number.MAX_SAFE_INTEGER);
    }
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
    // One flush at a time, in order: events that arrive meanwhile make the next batch, and one
    // queued flush takes them all (a full batch queued a flush per event behind a slow store).
    if (this.#queued) return this.#flushing;
    this.#queued = true;
    this.#flushing = this.#flushing.then(async () => {
      this.#queued = false;
      const batch = this.#pending;
      this.#pending = [];
      try {
        const { cancelRequested, reservedId } = await this.#log.append(this.#turnId, batch, this.#settings.leaseMs);
        if (reservedId !== undefined) this.#release(reservedId);
        if (cancelRequested) {
          // Not written: the events go with the turn's end.
          this.#pending = [...batch, ...this.#pending];
          this.#onStop("cancelled");
        }
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

  /** Publishes the held events up to `reservedId`, in order. */
  #release(reservedId: number): void {
    this.#reservedId = Math.max(this.#reservedId, reservedId);
    let released = 0;
    while (released < this.#held.length && this.#held[released]!.id <= this.#reservedId) this.#publish(this.#held[released++]!);
    this.#held.splice(0, released);
  }
}
