import { createHash, randomUUID } from "node:crypto";
import { CheckpointerError, isCheckpointerError } from "./errors.js";
import { traced, type CheckpointerOperation } from "./diagnostics.js";
import type { SqlDatabase, Statement } from "./statement.js";
import { validateId } from "./validation.js";

/**
 * The turn log: a durable record of each agent turn while it runs, in the checkpoints' own
 * database, so any replica can replay a turn's events, see that it ended, or see that the process
 * running it died. One row per turn (its status, a lease its producer renews, the id of its last
 * event and its final event), its events in batches (one row per batch: the cost per token stays
 * bounded), and idempotency keys that map a client's key to its turn.
 *
 * Every time it compares (leases, retention) is the database's clock, never a replica's: the
 * replicas' clocks may disagree or step back.
 */

/** One event of a turn. Ids start at 1 (the turn's first event) and increase by one. */
export interface TurnEvent {
  id: number;
  event: string;
  data: unknown;
}

export type TurnStatus = "running" | "done" | "failed";

export interface TurnRecord {
  turnId: string;
  threadId: string;
  status: TurnStatus;
  /** The id of the last event stored (or of the final one). */
  lastId: number;
  /**
   * Ids up to this one may have reached clients: the producer may hand an event to its readers
   * before it is stored, as long as its id is within this reservation (renewed with each append,
   * `RESERVED_IDS` ahead). An INTERRUPTED event takes the id after it, so it follows every id any
   * client has seen.
   */
  reservedId: number;
  /** Running, but its producer has not renewed the lease in time: it died or lost the database. */
  leaseLapsed: boolean;
  cancelRequested: boolean;
  /** The final event (`done` or `error`) once the turn has ended. */
  outcome: TurnEvent | null;
}

/** What `begin` found for an idempotency key. */
export type TurnClaim =
  /**
   * Run this turn, saving it as `checkpointId`. A `rerun` follows an earlier turn of the key that
   * failed or died: that one may have saved `checkpointId` before it ended, so look for it first.
   */
  | { kind: "run"; turn: TurnRecord; checkpointId: string; rerun: boolean }
  /** The key's turn is running (lease held) or done: follow or replay it; do not run it. */
  | { kind: "existing"; turn: TurnRecord; checkpointId: string }
  /** The key was used with another request. */
  | { kind: "mismatch" };

interface TurnRow {
  turn_id: string;
  thread_id: string;
  status: TurnStatus;
  last_id: number;
  reserved_id: number;
  lapsed: number;
  cancel_requested: number;
  outcome: string | null;
}

interface KeyRow {
  fingerprint: string;
  turn_id: string;
  checkpoint_id: string;
}

/** The turn log's SQL in one database's dialect. Times are the database's own, epoch milliseconds. */
export interface TurnStatements {
  insertTurn: Statement<{ turnId: string; threadId: string; leaseMs: number; reservedId: number }>;
  turn: Statement<{ turnId: string }, TurnRow>;
  /** The same, locking the row to the end of the transaction (SQLite: the transaction holds the write lock). */
  lockTurn: Statement<{ turnId: string }, TurnRow>;
  /** Records stored events and renews the lease and the reservation, if the turn runs, no stop was asked for and its last event is `previousId`. */
  renew: Statement<{ turnId: string; previousId: number; lastId: number; reservedId: number; leaseMs: number }>;
  /** Renews the lease, if the turn runs and no stop was asked for. */
  renewLease: Statement<{ turnId: string; leaseMs: number }>;
  /** Ends the turn if it runs and its last event is `previousId` (else changes nothing). */
  end: Statement<{ turnId: string; status: TurnStatus; previousId: number; lastId: number; outcome: string }>;
  requestCancel: Statement<{ turnId: string }>;
  insertEvents: Statement<{ turnId: string; firstId: number; lastId: number; events: string }>;
  events: Statement<{ turnId: string; afterId: number }, { events: string }>;
  /** Inserts the key unless it exists (then leaves it as it is, locked). */
  claimKey: Statement<{ keyHash: string; fingerprint: string; turnId: string; checkpointId: string }>;
  lockKey: Statement<{ keyHash: string }, KeyRow>;
  pointKey: Statement<{ keyHash: string; turnId: string }>;
  lapsedTurns: Statement<{ graceMs: number; batch: number }, { turn_id: string }>;
  deleteEvents: Statement<{ retentionMs: number }>;
  deleteKeys: Statement<{ keyTtlMs: number }>;
  deleteTurns: Statement<{ keyTtlMs: number }>;
}

/** What a turn whose producer died ends with; sending the request again (with its idempotency key) runs it again. */
export const INTERRUPTED_MESSAGE =
  "the process running this turn stopped before it finished; send the message again with the same Idempotency-Key to complete it (it is stored once)";

/** How many ids past the last stored one a producer may hand out before its next append. */
export const RESERVED_IDS = 4096;

/** Thrown inside a transaction whose conditional UPDATE changed nothing, to roll it back; `notWritten` catches it. */
const NOT_WRITTEN = "the turn's row did not match";

/** False for the rollback of NOT_WRITTEN; any other error is thrown on. */
function notWritten(error: unknown): false {
  if (isCheckpointerError(error, "CONFLICT") && error.message === NOT_WRITTEN) return false;
  throw error;
}

/** Lapsed turns one sweep ends at most. */
const SWEEP_BATCH = 100;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

function record(row: TurnRow): TurnRecord {
  return {
    turnId: row.turn_id,
    threadId: row.thread_id,
    status: row.status,
    lastId: Number(row.last_id),
    reservedId: Number(row.reserved_id),
    leaseLapsed: row.status === "running" && Number(row.lapsed) === 1,
    cancelRequested: Number(row.cancel_requested) === 1,
    outcome: row.outcome === null ? null : (JSON.parse(row.outcome) as TurnEvent),
  };
}

/** A batch of events continues the turn's ids exactly: nothing skipped, nothing given twice. */
function checkBatch(turn: TurnRecord, events: readonly TurnEvent[]): void {
  events.forEach((e, i) => {
    if (e.id !== turn.lastId + 1 + i) throw new TypeError(`turn ${turn.turnId}: event id ${e.id} does not follow ${turn.lastId + i}`);
  });
}

export class TurnLog {
  readonly #db: SqlDatabase;
  readonly #sql: TurnStatements;
  readonly #store: "mysql" | "sqlite";

  constructor(db: SqlDatabase, sql: TurnStatements, store: "mysql" | "sqlite") {
    this.#db = db;
    this.#sql = sql;
    this.#store = store;
  }

  /** Runs `work` as `operation` on its tracing channel (diagnostics.ts), as the storage engine's operations are. */
  #traced<T>(operation: CheckpointerOperation, ids: { threadId?: string; turnId?: string }, work: () => Promise<T>): Promise<T> {
    return traced({ operation, store: this.#store, ...ids }, work);
  }

  /**
   * Starts a turn on `threadId` whose producer holds a lease of `leaseMs`; its first event id (1)
   * is taken. With `idempotency`, a key seen before returns its turn instead (or, when that turn
   * failed or its producer died, a new turn for the same key), and a key seen with another
   * `fingerprint` is a mismatch. The key is hashed: the table never holds a client's key.
   */
  begin(threadId: string, leaseMs: number, idempotency?: { key: string; fingerprint: string }): Promise<TurnClaim> {
    return this.#traced("beginTurn", { threadId }, () => this.#begin(threadId, leaseMs, idempotency));
  }

  async #begin(threadId: string, leaseMs: number, idempotency?: { key: string; fingerprint: string }): Promise<TurnClaim> {
    validateId(threadId);
    const turnId = randomUUID();
    if (!idempotency) {
      await this.#db.run(this.#sql.insertTurn, { turnId, threadId, leaseMs, reservedId: 1 + RESERVED_IDS });
      const turn: TurnRecord = { turnId, threadId, status: "running", lastId: 1, reservedId: 1 + RESERVED_IDS, leaseLapsed: false, cancelRequested: false, outcome: null };
      return { kind: "run", turn, checkpointId: randomUUID(), rerun: false };
    }
    const keyHash = sha256(idempotency.key);
    const fingerprint = sha256(idempotency.fingerprint);
    return this.#db.transaction(async (tx): Promise<TurnClaim> => {
      const start = async (): Promise<TurnRecord> => {
        await tx.run(this.#sql.insertTurn, { turnId, threadId, leaseMs, reservedId: 1 + RESERVED_IDS });
        return record((await tx.select(this.#sql.turn, { turnId }))[0]!);
      };
      await tx.run(this.#sql.claimKey, { keyHash, fingerprint, turnId, checkpointId: randomUUID() });
      const key = (await tx.select(this.#sql.lockKey, { keyHash }))[0];
      if (!key) throw new CheckpointerError("CONFLICT", "idempotency key was removed while being claimed; try again");
      // The row names this call's turn only when this call inserted it.
      if (key.turn_id === turnId) return { kind: "run", turn: await start(), checkpointId: key.checkpoint_id, rerun: false };
      if (key.fingerprint !== fingerprint) return { kind: "mismatch" };
      const earlier = (await tx.select(this.#sql.lockTurn, { turnId: key.turn_id }))[0];
      const previous = earlier && record(earlier);
      if (previous && (previous.status === "done" || (previous.status === "running" && !previous.leaseLapsed))) {
        return { kind: "existing", turn: previous, checkpointId: key.checkpoint_id };
      }
      if (previous?.status === "running") await this.#interrupt(tx, previous);
      const turn = await start();
      await tx.run(this.#sql.pointKey, { keyHash, turnId });
      return { kind: "run", turn, checkpointId: key.checkpoint_id, rerun: true };
    });
  }

  /** The turn, or null when there is none (never begun, or removed after the keys' lifetime). */
  get(turnId: string): Promise<TurnRecord | null> {
    return this.#traced("readTurn", { turnId }, () => this.#get(turnId));
  }

  async #get(turnId: string): Promise<TurnRecord | null> {
    const row = (await this.#db.select(this.#sql.turn, { turnId }))[0];
    return row ? record(row) : null;
  }

  /** The stored events after `afterId`, in order (the final event is the record's `outcome`). */
  events(turnId: string, afterId: number): Promise<TurnEvent[]> {
    return this.#traced("readTurn", { turnId }, () => this.#events(turnId, afterId));
  }

  async #events(turnId: string, afterId: number): Promise<TurnEvent[]> {
    const rows = await this.#db.select(this.#sql.events, { turnId, afterId });
    return rows.flatMap((row) => (JSON.parse(row.events) as TurnEvent[]).filter((e) => e.id > afterId));
  }

  /**
   * Stores the producer's next events (ids following the last one) and renews its lease and its
   * reservation of ids (`reservedId`), in one transaction; with no events, renews the lease only.
   * When a stop was asked for, writes nothing and says so (`cancelRequested`, no `reservedId`):
   * the events are for `finish`. CONFLICT when the turn is no longer running (its lease lapsed and
   * a reader ended it): the producer must stop.
   */
  append(turnId: string, events: readonly TurnEvent[], leaseMs: number): Promise<{ cancelRequested: boolean; reservedId?: number }> {
    return this.#traced("appendTurn", { turnId }, () => this.#append(turnId, events, leaseMs));
  }

  async #append(turnId: string, events: readonly TurnEvent[], leaseMs: number): Promise<{ cancelRequested: boolean; reservedId?: number }> {
    // The happy path is one conditional UPDATE (then the events' INSERT, in one transaction); when
    // it changes nothing, nothing is written, and a read says why: the turn ended, a stop was asked
    // for (the events are then the caller's to store with the end), or a caller's bug.
    if (events.length === 0) {
      if ((await this.#db.run(this.#sql.renewLease, { turnId, leaseMs })) === 1) return { cancelRequested: false };
    } else {
      const lastId = events.at(-1)!.id;
      const reservedId = lastId + RESERVED_IDS;
      const renew = { turnId, previousId: events[0]!.id - 1, lastId, reservedId, leaseMs };
      const stored = await this.#db
        .transaction(async (tx) => {
          if ((await tx.run(this.#sql.renew, renew)) !== 1) throw new CheckpointerError("CONFLICT", NOT_WRITTEN);
          await tx.run(this.#sql.insertEvents, { turnId, firstId: events[0]!.id, lastId, events: JSON.stringify(events) });
          return true;
        })
        .catch(notWritten);
      if (stored) return { cancelRequested: false, reservedId };
    }
    const turn = await this.#get(turnId);
    if (turn?.status !== "running") throw new CheckpointerError("CONFLICT", `turn ${turnId} is no longer running`);
    if (turn.cancelRequested) return { cancelRequested: true };
    checkBatch(turn, events);
    throw new CheckpointerError("CONFLICT", `turn ${turnId} changed while being written`);
  }


  /** Stores the last events and the final one (`outcome`, whose id follows them), ending the turn. CONFLICT as for `append`. */
  finish(turnId: string, events: readonly TurnEvent[], outcome: TurnEvent, status: Exclude<TurnStatus, "running">): Promise<void> {
    return this.#traced("finishTurn", { turnId }, () => this.#finish(turnId, events, outcome, status));
  }

  async #finish(turnId: string, events: readonly TurnEvent[], outcome: TurnEvent, status: Exclude<TurnStatus, "running">): Promise<void> {
    const all = [...events, outcome];
    // One conditional UPDATE (with the events' INSERT before it, in one transaction): a turn that
    // no longer runs, or ids that do not follow its last, change nothing, and then say which.
    const end = { turnId, status, previousId: all[0]!.id - 1, lastId: outcome.id, outcome: JSON.stringify(outcome) };
    const ended =
      events.length === 0
        ? (await this.#db.run(this.#sql.end, end)) === 1
        : await this.#db
            .transaction(async (tx) => {
              if ((await tx.run(this.#sql.end, end)) !== 1) throw new CheckpointerError("CONFLICT", NOT_WRITTEN);
              await tx.run(this.#sql.insertEvents, { turnId, firstId: events[0]!.id, lastId: events.at(-1)!.id, events: JSON.stringify(events) });
              return true;
            })
            .catch(notWritten);
    if (ended) return;
    const turn = await this.#get(turnId);
    if (turn?.status !== "running") throw new CheckpointerError("CONFLICT", `turn ${turnId} is no longer running`);
    checkBatch(turn, all);
    throw new CheckpointerError("CONFLICT", `turn ${turnId} changed while being ended`);
  }

  /** Asks the producer to stop (it sees it at its next append). False when the turn is not running. */
  requestCancel(turnId: string): Promise<boolean> {
    return this.#traced("cancelTurn", { turnId }, () => this.#requestCancel(turnId));
  }

  async #requestCancel(turnId: string): Promise<boolean> {
    return (await this.#db.run(this.#sql.requestCancel, { turnId })) === 1;
  }

  /**
   * Ends a running turn whose lease has lapsed with an `error` event of code INTERRUPTED (its id
   * follows the turn's reservation, so every id a client saw), and
   * returns the turn as it is now (ended by this call or by anyone before).
   */
  endIfLapsed(turnId: string): Promise<TurnRecord | null> {
    return this.#traced("interruptTurn", { turnId }, () => this.#endIfLapsed(turnId));
  }

  async #endIfLapsed(turnId: string): Promise<TurnRecord | null> {
    return this.#db.transaction(async (tx) => {
      const row = (await tx.select(this.#sql.lockTurn, { turnId }))[0];
      if (!row) return null;
      const turn = record(row);
      return turn.leaseLapsed ? this.#interrupt(tx, turn) : turn;
    });
  }

  /**
   * Housekeeping, run now and then by any replica: ends turns whose producer died `graceMs` ago,
   * deletes the events of turns that ended `retentionMs` ago, keys older than `keyTtlMs` and turns
   * ended that long ago that no key names.
   */
  sweep(options: { retentionMs: number; keyTtlMs: number; graceMs: number }): Promise<{ interrupted: number; eventRows: number; keys: number; turns: number }> {
    return this.#traced("sweepTurns", {}, () => this.#sweep(options));
  }

  async #sweep(options: { retentionMs: number; keyTtlMs: number; graceMs: number }): Promise<{ interrupted: number; eventRows: number; keys: number; turns: number }> {
    const lapsed = await this.#db.select(this.#sql.lapsedTurns, { graceMs: options.graceMs, batch: SWEEP_BATCH });
    for (const { turn_id } of lapsed) await this.#endIfLapsed(turn_id);
    const interrupted = lapsed.length;
    const eventRows = await this.#db.run(this.#sql.deleteEvents, { retentionMs: options.retentionMs });
    const keys = await this.#db.run(this.#sql.deleteKeys, { keyTtlMs: options.keyTtlMs });
    const turns = await this.#db.run(this.#sql.deleteTurns, { keyTtlMs: options.keyTtlMs });
    return { interrupted, eventRows, keys, turns };
  }

  async #interrupt(tx: Pick<SqlDatabase, "run">, turn: TurnRecord): Promise<TurnRecord> {
    const outcome: TurnEvent = { id: Math.max(turn.lastId, turn.reservedId) + 1, event: "error", data: { status: 503, error: { code: "INTERRUPTED", message: INTERRUPTED_MESSAGE } } };
    await tx.run(this.#sql.end, { turnId: turn.turnId, status: "failed", previousId: turn.lastId, lastId: outcome.id, outcome: JSON.stringify(outcome) });
    return { ...turn, status: "failed", leaseLapsed: false, lastId: outcome.id, outcome };
  }
}
