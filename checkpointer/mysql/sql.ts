import { CHAIN_COLUMNS, CHAIN_RANGE, CHECKPOINT_COLUMNS, IN_RANGE, NEWEST_FIRST as ORDER, THREAD_COLUMNS, VISIBLE, type CheckpointStatements, type SqlDialect } from "../checkpoint-sql.js";
import { sql } from "../statement.js";
import type { TurnStatements } from "../turn-log.js";
import { turnStatements } from "../turn-sql.js";
import type { TableNames } from "./schema.js";

/** A search statement is stopped after this long (MAX_EXECUTION_TIME): one search cannot hold a connection. */
export const SEARCH_TIME_LIMIT_MS = 2_000;

/**
 * The storage engine's statements in MySQL's SQL (8.0.19 and later), as fixed text: mysql2
 * prepares each distinct text once per connection, so none is built per call.
 */
export function mysqlDialect(t: TableNames): SqlDialect {
  const threads = `\`${t.threads}\``;
  const checkpoints = `\`${t.checkpoints}\``;

  /**
   * A checkpoint's chain: the rows from its chain's first row to it, the checkpoint `x` that
   * `from` and `where` pick; the engine follows each row's named base through them, so a row
   * missing from the chain is CORRUPT, never a wrong document.
   */
  const chain = (from: string, where: string) => `SELECT ${CHAIN_COLUMNS}
FROM ${from} JOIN ${checkpoints} c ON ${CHAIN_RANGE} WHERE ${where} ORDER BY c.seq`;

  /** The page of a listing, picked from the covering index, then only its rows read (a deferred join). */
  const summaries = (where: string) => `SELECT t.thread_id, t.latest_checkpoint_id AS checkpoint_id, t.updated_at, t.metadata FROM (
  SELECT t.thread_id FROM ${threads} t WHERE ${where} AND ${VISIBLE("t")} ${ORDER} LIMIT :limit
) page JOIN ${threads} t ON t.thread_id = page.thread_id ${ORDER}`;

  /** Dead checkpoints found from one index, that are neither a thread's latest nor among its newest `keepLast`. */
  const deadHistory = (index: string, dead: string) => `SELECT c.thread_id, c.seq FROM ${checkpoints} c FORCE INDEX (${index})
STRAIGHT_JOIN ${threads} t ON t.thread_id = c.thread_id
WHERE ${dead} AND c.seq < t.latest_seq
  AND (SELECT COUNT(*) FROM ${checkpoints} n WHERE n.thread_id = c.thread_id AND n.seq > c.seq) >= :keepLast
LIMIT :batch`;

  // Locks the thread row only (OF t): a locking read of the checkpoint rows would take gap locks
  // on their index, on which first saves of neighbouring new threads deadlock. Under the thread
  // row's lock no other writer changes this thread's rows.
  const lockThread = `SELECT t.next_seq, t.latest_seq, t.latest_checkpoint_id, t.expires_at, l.row_token, l.text_root_seq, l.base_seq, l.snapshot_seq,
  (SELECT n.seq FROM ${checkpoints} n WHERE n.thread_id = t.thread_id AND n.checkpoint_id = :checkpointId) AS named_seq
FROM ${threads} t LEFT JOIN ${checkpoints} l ON l.thread_id = t.thread_id AND l.seq = t.latest_seq
WHERE t.thread_id = :threadId FOR UPDATE OF t`;
  const statements: CheckpointStatements = {
    lockThread: sql(lockThread),
    claimThread: sql(
      `INSERT INTO ${threads} (${THREAD_COLUMNS}) VALUES (:threadId, 1, 0, '', NULL, :now, NULL, '{}', '[]') AS n
ON DUPLICATE KEY UPDATE thread_id = n.thread_id`,
      lockThread,
    ),
    lockThreadShared: sql(`SELECT t.latest_seq, t.next_seq FROM ${threads} t WHERE t.thread_id = :threadId AND ${VISIBLE("t")} FOR SHARE`),
    insertCheckpoint: sql(`INSERT INTO ${checkpoints} (${CHECKPOINT_COLUMNS})
VALUES (:threadId, :seq, :checkpointId, :parentCheckpointId, :createdAt, :expiresAt, :metadata, :state, :encoding, :baseSeq,
  :snapshotSeq, :splicePrefix, :spliceSuffix, :docBytes, :docCrc32, :rowToken, :searchText, :textRootSeq)`),
    // ON DUPLICATE KEY UPDATE sets every column: the row is the latest checkpoint's header.
    saveThread: sql(`INSERT INTO ${threads} (${THREAD_COLUMNS})
VALUES (:threadId, :nextSeq, :latestSeq, :latestCheckpointId, :parentCheckpointId, :updatedAt, :expiresAt, :metadata, :metadataIndex) AS n
ON DUPLICATE KEY UPDATE next_seq = n.next_seq, latest_seq = n.latest_seq, latest_checkpoint_id = n.latest_checkpoint_id,
  parent_checkpoint_id = n.parent_checkpoint_id, updated_at = n.updated_at, expires_at = n.expires_at, metadata = n.metadata,
  metadata_index = n.metadata_index`),
    history: sql(`SELECT seq, base_seq, snapshot_seq, text_root_seq FROM ${checkpoints} WHERE thread_id = :threadId ORDER BY seq FOR UPDATE`),
    storeWhole: sql(
      `UPDATE ${checkpoints} SET state = :state, encoding = :encoding, base_seq = NULL, snapshot_seq = NULL, splice_prefix = NULL, splice_suffix = NULL
WHERE thread_id = :threadId AND seq = :seq`,
      `UPDATE ${checkpoints} SET snapshot_seq = :seq WHERE thread_id = :threadId AND snapshot_seq = :oldRoot AND seq > :seq`,
    ),
    indexWhole: sql(`UPDATE ${checkpoints} SET search_text = :searchText, text_root_seq = NULL WHERE thread_id = :threadId AND seq = :seq`),
    moveTextRoot: sql(`UPDATE ${checkpoints} SET text_root_seq = :to
WHERE thread_id = :threadId AND text_root_seq = :from AND seq > :after AND seq <= :upTo`),
    deleteRange: sql(`DELETE FROM ${checkpoints} WHERE thread_id = :threadId AND seq BETWEEN :first AND :last`),
    newestCheckpoint: sql(`SELECT seq, checkpoint_id, parent_checkpoint_id, created_at, expires_at, metadata
FROM ${checkpoints} WHERE thread_id = :threadId ORDER BY seq DESC LIMIT 1`),
    // The thread row first: saves lock it first too, so the two never deadlock.
    deleteThread: sql(`DELETE FROM ${threads} WHERE thread_id = :threadId`, `DELETE FROM ${checkpoints} WHERE thread_id = :threadId`),
    copyThread: sql(
      `INSERT INTO ${threads} (${THREAD_COLUMNS})
SELECT :threadId, next_seq, latest_seq, latest_checkpoint_id, parent_checkpoint_id, updated_at, expires_at, metadata, metadata_index
FROM ${threads} WHERE thread_id = :sourceThreadId`,
      `INSERT INTO ${checkpoints} (${CHECKPOINT_COLUMNS})
SELECT :threadId, ${CHECKPOINT_COLUMNS.replace("thread_id, ", "")}
FROM ${checkpoints} WHERE thread_id = :sourceThreadId AND seq <= :lastSeq`,
    ),
    lockDeadThread: sql(`SELECT thread_id FROM ${threads} WHERE thread_id = :threadId AND (updated_at < :cutoff OR expires_at <= :now) FOR UPDATE`),
    // Never the latest, even if a delete moved it since the batch was picked.
    deadSeqs: sql(`SELECT seq FROM ${checkpoints}
WHERE thread_id = :threadId AND seq <= :upTo AND (created_at < :cutoff OR expires_at <= :now)
  AND seq < (SELECT latest_seq FROM ${threads} WHERE thread_id = :threadId) ORDER BY seq`),

    loadLatest: sql(
      chain(`${threads} t JOIN ${checkpoints} x ON x.thread_id = t.thread_id AND x.seq = t.latest_seq`, `t.thread_id = :threadId AND ${VISIBLE("t")}`),
    ),
    loadById: sql(chain(`${checkpoints} x`, `x.thread_id = :threadId AND x.checkpoint_id = :checkpointId AND ${VISIBLE("x")}`)),
    loadBySeq: sql(chain(`${checkpoints} x`, "x.thread_id = :threadId AND x.seq = :seq")),
    textRun: sql(`SELECT c.search_text
FROM ${checkpoints} x JOIN ${checkpoints} c ON c.thread_id = x.thread_id AND c.seq BETWEEN COALESCE(x.text_root_seq, x.seq) AND x.seq
WHERE x.thread_id = :threadId AND x.seq = :seq ORDER BY c.seq`),
    checkpointSeq: sql(`SELECT seq, parent_checkpoint_id, metadata FROM ${checkpoints} WHERE thread_id = :threadId AND checkpoint_id = :checkpointId`),
    listCheckpoints: sql(`SELECT c.checkpoint_id FROM ${checkpoints} c WHERE c.thread_id = :threadId AND ${VISIBLE("c")} ORDER BY c.seq DESC LIMIT :limit`),
    threadExists: sql(`SELECT 1 AS found FROM ${threads} t WHERE t.thread_id = :threadId AND ${VISIBLE("t")}`),
    checkpointExists: sql(`SELECT 1 AS found FROM ${checkpoints} c WHERE c.thread_id = :threadId AND c.checkpoint_id = :checkpointId AND ${VISIBLE("c")}`),
    infoLatest: sql(`SELECT t.thread_id, t.latest_checkpoint_id AS checkpoint_id, t.parent_checkpoint_id, t.updated_at AS created_at, t.metadata
FROM ${threads} t WHERE t.thread_id = :threadId AND ${VISIBLE("t")}`),
    infoById: sql(`SELECT c.thread_id, c.checkpoint_id, c.parent_checkpoint_id, c.created_at, c.metadata
FROM ${checkpoints} c WHERE c.thread_id = :threadId AND c.checkpoint_id = :checkpointId AND ${VISIBLE("c")}`),
    cursorPosition: sql(`SELECT updated_at FROM ${threads} WHERE thread_id = :cursor`),
    listThreads: sql(summaries(IN_RANGE)),
    listThreadsAfter: sql(summaries(`${IN_RANGE} AND (t.updated_at < :cursorAt OR (t.updated_at = :cursorAt AND t.thread_id < :cursor))`)),
    // The multi-valued index on metadata_index finds the threads holding the pair.
    queryByMetadata: sql(`SELECT t.thread_id, t.latest_checkpoint_id AS checkpoint_id, t.updated_at, t.metadata FROM ${threads} t
WHERE :pairHash MEMBER OF (t.metadata_index) AND ${VISIBLE("t")} ${ORDER} LIMIT :limit`),
    // Search: the rows of each thread's latest text run (from its text root to it) that match.
    // MATCH only finds them: scores come from the words themselves (sql-backend.ts), since
    // InnoDB's relevance weighs words by how often every tenant used them.
    search: sql(`SELECT /*+ MAX_EXECUTION_TIME(${SEARCH_TIME_LIMIT_MS}) */ c.thread_id, t.latest_checkpoint_id AS checkpoint_id, t.updated_at, c.seq, c.search_text
FROM ${checkpoints} c JOIN ${threads} t ON t.thread_id = c.thread_id
JOIN ${checkpoints} x ON x.thread_id = t.thread_id AND x.seq = t.latest_seq
WHERE MATCH(c.search_text) AGAINST (:query IN NATURAL LANGUAGE MODE) AND ${VISIBLE("t")}
  AND c.seq BETWEEN COALESCE(x.text_root_seq, x.seq) AND x.seq
ORDER BY t.updated_at DESC, t.thread_id DESC LIMIT :limit`),
    // A tenant's threads by primary-key range, never the full-text index (which spans every
    // tenant): the cost is its own threads' text.
    searchWithin: sql(`SELECT /*+ MAX_EXECUTION_TIME(${SEARCH_TIME_LIMIT_MS}) */ c.thread_id, t.latest_checkpoint_id AS checkpoint_id, t.updated_at, c.seq, c.search_text
FROM (
  SELECT t.thread_id FROM ${threads} t
  WHERE ${IN_RANGE} AND ${VISIBLE("t")}
  ORDER BY t.updated_at DESC, t.thread_id DESC LIMIT :candidates
) page JOIN ${threads} t ON t.thread_id = page.thread_id
JOIN ${checkpoints} x ON x.thread_id = t.thread_id AND x.seq = t.latest_seq
JOIN ${checkpoints} c ON c.thread_id = t.thread_id AND c.seq BETWEEN COALESCE(x.text_root_seq, x.seq) AND x.seq
WHERE REGEXP_LIKE(c.search_text, :words)
ORDER BY t.updated_at DESC, t.thread_id DESC LIMIT :limit`),
    // One UNION branch per index: an OR of the two scanned the table, once per batch.
    deadThreads: sql(`(SELECT thread_id FROM ${threads} FORCE INDEX (updated) WHERE updated_at < :cutoff LIMIT :batch)
UNION (SELECT thread_id FROM ${threads} FORCE INDEX (expires) WHERE expires_at <= :now LIMIT :batch) LIMIT :batch`),
    deadCheckpoints: sql(`(${deadHistory("created", "c.created_at < :cutoff")}) UNION (${deadHistory("expires", "c.expires_at <= :now")}) LIMIT :batch`),
  };
  // NATURAL LANGUAGE MODE reads no operators: the words, space-separated, match any of them.
  return { name: "mysql", statements, searchQuery: (terms) => terms.join(" ") };
}

/** The turn log's statements in MySQL's SQL; its clock is the server's, in UTC (no time zone or DST involved). */
export function mysqlTurnStatements(t: TableNames): TurnStatements {
  const [turns, events] = [`\`${t.turns}\``, `\`${t.turnEvents}\``];
  const now = "(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000)";
  return turnStatements({
    turns,
    events,
    keys: `\`${t.turnKeys}\``,
    now,
    forUpdate: " FOR UPDATE",
    insertOrKeep: ["INSERT INTO", " ON DUPLICATE KEY UPDATE key_hash = key_hash"],
    deleteEvents: `DELETE e FROM ${events} e JOIN ${turns} t ON t.turn_id = e.turn_id WHERE t.ended_at < ${now} - :retentionMs`,
  });
}
