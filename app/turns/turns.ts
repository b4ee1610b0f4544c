import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { INTERRUPTED_MESSAGE, type TurnClaim, type TurnEvent, type TurnLog, type TurnRecord } from "../../checkpointer/index.js";
import { storageId, type Conversations } from "../agent/conversations.js";
import { ApiError, toApiError } from "../http/errors.js";
import { TenantSlots } from "../http/tenant-slots.js";
import { LiveTurn } from "./live-turn.js";
import { TurnWriter } from "./turn-writer.js";

export interface TurnSettings {
  /** How long a producer's lease lasts without renewal: a dead replica's turn is INTERRUPTED this long after it died. */
  leaseMs: number;
  /** How long a finished turn's events are kept for resuming clients. */
  retentionMs: number;
  /** Turns one tenant may have running in this process; more get 429 (a turn outlives its request). */
  maxTurnsPerTenant: number;
}

/** Idempotency keys are kept at least this long (and their turns' outcomes with them). */
const KEY_TTL_MS = 24 * 60 * 60 * 1000;
/** How often a reader on another replica looks for new events. */
const POLL_MS = 100;
/** How long events wait to be written, at most, and the largest batch. */
const FLUSH_MS = 50;
const MAX_BATCH = 1024;
/** A finished turn stays in memory this long, for readers here that are about to resume it. */
const LINGER_MS = 30_000;

/** The first event of every turn. */
const turnEvent = (turnId: string): TurnEvent => ({ id: 1, event: "turn", data: { turnId } });

export type StartedTurn =
  | { kind: "started" | "existing"; turnId: string }
  /** The idempotency key was used with another request. */
  | { kind: "mismatch" };

/**
 * Turns that outlive their HTTP request: a turn runs to its end whoever listens (a client that
 * hangs up does not stop it), its events go to the turn log in the store as they are produced, and
 * any replica can replay and follow them. Stopping is explicit (`cancel`). A replica that dies
 * mid-turn stops renewing its lease, and readers then end the turn as INTERRUPTED.
 */
export class Turns {
  readonly #log: TurnLog;
  readonly #conversations: Conversations;
  readonly #settings: TurnSettings;
  readonly #logger: Logger;
  readonly #live = new Map<string, LiveTurn>();
  readonly #running = new Set<Promise<void>>();
  readonly #slots: TenantSlots;

  constructor(options: { log: TurnLog; conversations: Conversations; settings: TurnSettings; logger: Logger }) {
    this.#log = options.log;
    this.#conversations = options.conversations;
    this.#settings = options.settings;
    this.#logger = options.logger;
    this.#slots = new TenantSlots(options.settings.maxTurnsPerTenant);
  }

  /**
   * Starts a turn for the user's message, or, for an idempotency key seen before with the same
   * request, finds its turn (running or done), or runs it again when it failed or its replica died.
   */
  async start(tenant: string, threadId: string, content: string, { idempotencyKey, streamed }: { idempotencyKey?: string | undefined; streamed: boolean }): Promise<StartedTurn> {
    const id = storageId(tenant, threadId);
    // Taken before the turn is begun in the log, so a refused request leaves nothing behind.
    const release = this.#slots.take(tenant);
    if (!release) {
      throw new ApiError(
        429,
        "TOO_MANY_TURNS",
        `at most ${this.#slots.perTenant} turns at a time per API key (per server without API keys); try again when one has finished`,
      );
    }
    let claim: TurnClaim;
    try {
      claim = await this.#log.begin(
        id,
        this.#settings.leaseMs,
        idempotencyKey === undefined ? undefined : { key: `${tenant}\n${idempotencyKey}`, fingerprint: JSON.stringify([threadId, content]) },
      );
    } catch (error) {
      release();
      throw error;
    }
    if (claim.kind !== "run") {
      release();
      return claim.kind === "mismatch" ? claim : { kind: "existing", turnId: claim.turn.turnId };
    }
    const live = new LiveTurn(claim.turn.turnId, id);
    this.#live.set(live.turnId, live);
    const run = this.#produce(live, { tenant, threadId, content, streamed, checkpointId: claim.checkpointId, rerun: claim.rerun, reservedId: claim.turn.reservedId });
    this.#running.add(run);
    void run.finally(() => {
      this.#running.delete(run);
      release();
    });
    return { kind: "started", turnId: live.turnId };
  }

  /**
   * The turn's events after `afterId`, then live ones to its final event; from memory when it runs
   * here, else from the turn log. Null when the tenant's thread has no such turn.
   */
  async events(tenant: string, threadId: string, turnId: string, afterId: number, signal: AbortSignal): Promise<AsyncGenerator<TurnEvent[]> | null> {
    const id = storageId(tenant, threadId);
    const live = this.#live.get(turnId);
    if (live) return live.threadId === id ? live.after(afterId, signal) : null;
    const turn = await this.#log.get(turnId);
    if (!turn || turn.threadId !== id) return null;
    return this.#follow(turn, afterId, signal);
  }

  /** The turn's final event, once it has one (waiting for a running turn). Null as for `events`, or when `signal` aborts first. */
  async outcome(tenant: string, threadId: string, turnId: string, signal: AbortSignal): Promise<TurnEvent | null> {
    // Past every id: the only event a follower then gets is the final one.
    const batches = await this.events(tenant, threadId, turnId, Number.MAX_SAFE_INTEGER, signal);
    let final: TurnEvent | null = null;
    for await (const batch of batches ?? []) final = batch.at(-1) ?? final;
    return final;
  }

  /** Asks a running turn to stop: "cancelling", or "ended" when it has ended, or null when there is no such turn. */
  async cancel(tenant: string, threadId: string, turnId: string): Promise<"cancelling" | "ended" | null> {
    const id = storageId(tenant, threadId);
    const live = this.#live.get(turnId);
    if (live && live.threadId === id) {
      if (live.ended) return "ended";
      live.stop.abort("cancelled");
      return "cancelling";
    }
    const turn = await this.#log.get(turnId);
    if (!turn || turn.threadId !== id) return null;
    // Its producer, on another replica, sees it with its next flush or renewal (within a second).
    return (await this.#log.requestCancel(turnId)) ? "cancelling" : "ended";
  }

  /** Housekeeping (any replica may run it): ends turns of dead replicas, drops expired events, keys and turns. */
  sweep(): ReturnType<TurnLog["sweep"]> {
    return this.#log.sweep({ retentionMs: this.#settings.retentionMs, keyTtlMs: KEY_TTL_MS, graceMs: this.#settings.leaseMs });
  }

  /** Waits for the turns running here to end (a graceful shutdown), at most until `signal` aborts; then stops renewing them. */
  async drain(signal: AbortSignal): Promise<void> {
    const all = Promise.allSettled([...this.#running]);
    await Promise.race([all, new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }))]);
  }

  async *#follow(turn: TurnRecord, afterId: number, signal: AbortSignal): AsyncGenerator<TurnEvent[]> {
    let after = afterId;
    if (after < 1) {
      yield [turnEvent(turn.turnId)];
      after = 1;
    }
    for (let current: TurnRecord | null = turn; current && !signal.aborted; ) {
      if (current.leaseLapsed) current = await this.#log.endIfLapsed(current.turnId);
      if (!current) return;
      // Read after the turn's status: events of a turn that has ended are all stored by then.
      const events = await this.#log.events(current.turnId, after);
      after = events.at(-1)?.id ?? after;
      if (current.outcome) {
        // Even to a client that claims a later id: a resume always ends with the turn's end.
        yield [...events, current.outcome];
        return;
      }
      if (events.length > 0) yield events;
      await sleep(POLL_MS, undefined, { signal }).catch(() => undefined);
      current = await this.#log.get(current.turnId);
    }
  }

  /**
   * Runs the turn and records it. A streamed turn records its tokens and tool steps as events; a
   * JSON turn only its end, since it may save inside the turn and run again after losing a race
   * (conversations.ts), which tokens already sent would contradict.
   */
  async #produce(
    live: LiveTurn,
    {
      tenant,
      threadId,
      content,
      streamed,
      checkpointId,
      rerun,
      reservedId,
    }: { tenant: string; threadId: string; content: string; streamed: boolean; checkpointId: string; rerun: boolean; reservedId: number },
  ): Promise<void> {
    const logger = this.#logger.child({ turnId: live.turnId });
    const { signal } = live.stop;
    live.push(turnEvent(live.turnId));
    const settings = { leaseMs: this.#settings.leaseMs, flushMs: FLUSH_MS, maxBatch: MAX_BATCH };
    const writer = new TurnWriter(this.#log, { turnId: live.turnId, reservedId }, settings, logger, {
      publish: (event) => live.push(event),
      onStop: (reason) => live.stop.abort(reason),
    });
    let lastId = 1;
    const emit = (event: string, data: unknown) => writer.add({ id: ++lastId, event, data });
    let outcome: { event: string; data: unknown; status: "done" | "failed" };
    try {
      const observer = streamed ? { signal, onToken: (text: string) => emit("token", { text }), onTool: (step: object) => emit("tool", step) } : undefined;
      const result = await this.#conversations.send(tenant, threadId, content, observer, { checkpointId, signal, rerun });
      outcome = {
        event: "done",
        data: { threadId, checkpointId: result.checkpointId, turnId: live.turnId, reply: { role: "assistant", content: result.reply } },
        status: "done",
      };
    } catch (error) {
      // Why the turn was stopped, if it was: the first reason given to `live.stop`.
      const stopped = signal.aborted ? (signal.reason as "cancelled" | "lost") : undefined;
      if (stopped === "lost") {
        // A reader ended the turn as INTERRUPTED (this process lost the store for a whole lease): nothing more to write.
        logger.warn("this turn's lease lapsed and another replica ended it");
        writer.abandon();
        // The id the reader that ended it gave its INTERRUPTED event: the one after the reservation.
        live.push({ id: writer.reservedId + 1, event: "error", data: { status: 503, error: { code: "INTERRUPTED", message: INTERRUPTED_MESSAGE } } }, true);
        return this.#forget(live);
      }
      const data =
        stopped === "cancelled"
          ? { status: 409, error: { code: "CANCELLED", message: "the turn was stopped; nothing of it was saved" } }
          : this.#errorData(error, logger);
      outcome = { event: "error", data, status: "failed" };
    }
    const final = { id: lastId + 1, event: outcome.event, data: outcome.data };
    try {
      await writer.finish(final, outcome.status);
    } catch (error) {
      // The turn is saved (or failed) all the same; readers elsewhere see it end as INTERRUPTED once its lease lapses.
      logger.error({ err: error }, "storing the end of a turn failed");
    }
    live.push(final, true);
    this.#forget(live);
  }

  /** An `error` event's data: the body a JSON answer has, and its HTTP status. */
  #errorData(error: unknown, logger: Logger): { status: number; error: { code: string; message: string } } {
    const api = toApiError(error);
    if (api.status >= 500) logger.error({ err: error }, "a turn failed");
    return { status: api.status, error: { code: api.code, message: api.message } };
  }

  #forget(live: LiveTurn): void {
    setTimeout(() => this.#live.delete(live.turnId), LINGER_MS).unref();
  }
}
