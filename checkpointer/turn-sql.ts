import { sql } from "./statement.js";
import type { TurnStatements } from "./turn-log.js";

/** The tables and clock of one database, as the turn log's shared SQL needs them. */
export interface TurnSqlParts {
  turns: string;
  events: string;
  keys: string;
  /** The database's clock now, in epoch milliseconds. */
  now: string;
  /** What makes a SELECT lock the rows it reads to the end of the transaction ("" on SQLite, which locks the database). */
  forUpdate: string;
  /**
   * An INSERT that keeps the row whose key exists, as `[before the table, after the VALUES]`: on
   * MySQL it must lock that row exclusively (INSERT IGNORE would take a shared lock, and two
   * requests then upgrading it to lock the key deadlock).
   */
  insertOrKeep: [string, string];
  /** DELETE of the events of turns that ended before :retentionMs ago. */
  deleteEvents: string;
}

const TURN_COLUMNS = "turn_id, thread_id, status, last_id, reserved_id, cancel_requested, outcome";

/** The turn log's statements (turn-log.ts) over one database's parts: all but a few are plain SQL both run. */
export function turnStatements(p: TurnSqlParts): TurnStatements {
  const turn = (lock: string): TurnStatements["turn"] => sql(`SELECT ${TURN_COLUMNS}, CASE WHEN lease_until < ${p.now} THEN 1 ELSE 0 END AS lapsed FROM ${p.turns} WHERE turn_id = :turnId${lock}`);
  return {
    insertTurn: sql(`INSERT INTO ${p.turns} (turn_id, thread_id, status, last_id, reserved_id, lease_until, cancel_requested, created_at)
VALUES (:turnId, :threadId, 'running', 1, :reservedId, ${p.now} + :leaseMs, 0, ${p.now})`),
    turn: turn(""),
    lockTurn: turn(p.forUpdate),
    renew: sql(`UPDATE ${p.turns} SET last_id = :lastId, reserved_id = :reservedId, lease_until = ${p.now} + :leaseMs
WHERE turn_id = :turnId AND status = 'running' AND cancel_requested = 0 AND last_id = :previousId`),
    renewLease: sql(`UPDATE ${p.turns} SET lease_until = ${p.now} + :leaseMs WHERE turn_id = :turnId AND status = 'running' AND cancel_requested = 0`),
    end: sql(`UPDATE ${p.turns} SET status = :status, last_id = :lastId, outcome = :outcome, ended_at = ${p.now}
WHERE turn_id = :turnId AND status = 'running' AND last_id = :previousId`),
    requestCancel: sql(`UPDATE ${p.turns} SET cancel_requested = 1 WHERE turn_id = :turnId AND status = 'running'`),
    insertEvents: sql(`INSERT INTO ${p.events} (turn_id, first_id, last_id, events) VALUES (:turnId, :firstId, :lastId, :events)`),
    events: sql(`SELECT events FROM ${p.events} WHERE turn_id = :turnId AND last_id > :afterId ORDER BY first_id`),
    claimKey: sql(`${p.insertOrKeep[0]} ${p.keys} (key_hash, fingerprint, turn_id, checkpoint_id, created_at)
VALUES (:keyHash, :fingerprint, :turnId, :checkpointId, ${p.now})${p.insertOrKeep[1]}`),
    lockKey: sql(`SELECT fingerprint, turn_id, checkpoint_id FROM ${p.keys} WHERE key_hash = :keyHash${p.forUpdate}`),
    pointKey: sql(`UPDATE ${p.keys} SET turn_id = :turnId WHERE key_hash = :keyHash`),
    lapsedTurns: sql(`SELECT turn_id FROM ${p.turns} WHERE status = 'running' AND lease_until < ${p.now} - :graceMs LIMIT :batch`),
    deleteEvents: sql(p.deleteEvents),
    deleteKeys: sql(`DELETE FROM ${p.keys} WHERE created_at < ${p.now} - :keyTtlMs`),
    deleteTurns: sql(`DELETE FROM ${p.turns} WHERE ended_at < ${p.now} - :keyTtlMs
  AND NOT EXISTS (SELECT 1 FROM ${p.keys} k WHERE k.turn_id = ${p.turns}.turn_id)`),
  };
}
