import { CHAIN_COLUMNS, CHAIN_RANGE, CHECKPOINT_COLUMNS, IN_RANGE, NEWEST_FIRST as ORDER, THREAD_COLUMNS, VISIBLE, type CheckpointStatements, type SqlDialect } from "../checkpoint-sql.js";
import { sql } from "../statement.js";
import type { TurnStatements } from "../turn-log.js";
import { turnStatements } from "../turn-sql.js";

// Times are epoch milliseconds.

/** A checkpoint's chain: the rows from its chain's first row to it (as on MySQL). */
const chain = (from: string, where: string) => `SELECT ${CHAIN_COLUMNS}
FROM ${from} JOIN checkpoints c ON ${CHAIN_RANGE} WHERE ${where} ORDER BY c.seq`;

const summaries = (where: string) => `SELECT t.thread_id, t.latest_checkpoint_id AS checkpoint_id, t.updated_at, t.metadata
FROM threads t WHERE ${where} AND ${VISIBLE("t")} ${ORDER} LIMIT :limit`;

// The full-text index follows the checkpoint rows by rowid (`id`): statements that change a row's
// text change its index entry in the same transaction.
const unindexSeqs = (where: string) => `DELETE FROM checkpoints_fts WHERE rowid IN (SELECT id FROM checkpoints WHERE ${where})`;
const indexSeqs = (where: string) => `INSERT INTO checkpoints_fts (rowid, search_text) SELECT id, search_text FROM checkpoints WHERE ${where} AND search_text <> ''`;
// queryByMetadata's index: one row per pair hash of the thread's latest metadata.
const reindexMetadata = [
  "DELETE FROM thread_metadata WHERE thread_id = :threadId",
  "INSERT OR IGNORE INTO thread_metadata (pair_hash, thread_id) SELECT value, thread_id FROM threads, json_each(threads.metadata_index) WHERE thread_id = :threadId",
];

/** The storage engine's statements in SQLite's SQL, over the tables of sqlite/schema.ts. */
// The whole database is locked for writing from BEGIN IMMEDIATE on: no row locks to take.
const lockThread = `SELECT t.next_seq, t.latest_seq, t.latest_checkpoint_id, t.expires_at, l.row_token, l.text_root_seq, l.base_seq, l.snapshot_seq,
  (SELECT n.seq FROM checkpoints n WHERE n.thread_id = t.thread_id AND n.checkpoint_id = :checkpointId) AS named_seq
FROM threads t LEFT JOIN checkpoints l ON l.thread_id = t.thread_id AND l.seq = t.latest_seq
WHERE t.thread_id = :threadId`;

export const sqliteDialect: SqlDialect = {
  name: "sqlite",
  statements: {
    lockThread: sql(lockThread),
    claimThread: sql(lockThread),
    lockThreadShared: sql(`SELECT t.latest_seq, t.next_seq FROM threads t WHERE t.thread_id = :threadId AND ${VISIBLE("t")}`),
    insertCheckpoint: sql(
      `INSERT INTO checkpoints (${CHECKPOINT_COLUMNS})
VALUES (:threadId, :seq, :checkpointId, :parentCheckpointId, :createdAt, :expiresAt, :metadata, :state, :encoding, :baseSeq,
  :snapshotSeq, :splicePrefix, :spliceSuffix, :docBytes, :docCrc32, :rowToken, :searchText, :textRootSeq)`,
      indexSeqs("thread_id = :threadId AND seq = :seq"),
    ),
    saveThread: sql(
      `INSERT INTO threads (${THREAD_COLUMNS})
VALUES (:threadId, :nextSeq, :latestSeq, :latestCheckpointId, :parentCheckpointId, :updatedAt, :expiresAt, :metadata, :metadataIndex)
ON CONFLICT (thread_id) DO UPDATE SET next_seq = excluded.next_seq, latest_seq = excluded.latest_seq,
  latest_checkpoint_id = excluded.latest_checkpoint_id, parent_checkpoint_id = excluded.parent_checkpoint_id,
  updated_at = excluded.updated_at, expires_at = excluded.expires_at, metadata = excluded.metadata, metadata_index = excluded.metadata_index`,
      ...reindexMetadata,
    ),
    history: sql("SELECT seq, base_seq, snapshot_seq, text_root_seq FROM checkpoints WHERE thread_id = :threadId ORDER BY seq"),
    storeWhole: sql(
      `UPDATE checkpoints SET state = :state, encoding = :encoding, base_seq = NULL, snapshot_seq = NULL, splice_prefix = NULL, splice_suffix = NULL
WHERE thread_id = :threadId AND seq = :seq`,
      "UPDATE checkpoints SET snapshot_seq = :seq WHERE thread_id = :threadId AND snapshot_seq = :oldRoot AND seq > :seq",
    ),
    indexWhole: sql(
      unindexSeqs("thread_id = :threadId AND seq = :seq"),
      "UPDATE checkpoints SET search_text = :searchText, text_root_seq = NULL WHERE thread_id = :threadId AND seq = :seq",
      indexSeqs("thread_id = :threadId AND seq = :seq"),
    ),
    moveTextRoot: sql("UPDATE checkpoints SET text_root_seq = :to WHERE thread_id = :threadId AND text_root_seq = :from AND seq > :after AND seq <= :upTo"),
    deleteRange: sql(
      unindexSeqs("thread_id = :threadId AND seq BETWEEN :first AND :last"),
      "DELETE FROM checkpoints WHERE thread_id = :threadId AND seq BETWEEN :first AND :last",
    ),
    newestCheckpoint: sql(`SELECT seq, checkpoint_id, parent_checkpoint_id, created_at, expires_at, metadata
FROM checkpoints WHERE thread_id = :threadId ORDER BY seq DESC LIMIT 1`),
    deleteThread: sql(
      "DELETE FROM threads WHERE thread_id = :threadId",
      "DELETE FROM thread_metadata WHERE thread_id = :threadId",
      unindexSeqs("thread_id = :threadId"),
      "DELETE FROM checkpoints WHERE thread_id = :threadId",
    ),
    copyThread: sql(
      `INSERT INTO threads (${THREAD_COLUMNS})
SELECT :threadId, next_seq, latest_seq, latest_checkpoint_id, parent_checkpoint_id, updated_at, expires_at, metadata, metadata_index
FROM threads WHERE thread_id = :sourceThreadId`,
      `INSERT INTO checkpoints (${CHECKPOINT_COLUMNS})
SELECT :threadId, ${CHECKPOINT_COLUMNS.replace("thread_id, ", "")}
FROM checkpoints WHERE thread_id = :sourceThreadId AND seq <= :lastSeq`,
      indexSeqs("thread_id = :threadId"),
      ...reindexMetadata,
    ),
    lockDeadThread: sql("SELECT thread_id FROM threads WHERE thread_id = :threadId AND (updated_at < :cutoff OR expires_at <= :now)"),
    deadSeqs: sql(`SELECT seq FROM checkpoints
WHERE thread_id = :threadId AND seq <= :upTo AND (created_at < :cutoff OR expires_at <= :now)
  AND seq < (SELECT latest_seq FROM threads WHERE thread_id = :threadId) ORDER BY seq`),

    loadLatest: sql(chain("threads t JOIN checkpoints x ON x.thread_id = t.thread_id AND x.seq = t.latest_seq", `t.thread_id = :threadId AND ${VISIBLE("t")}`)),
    loadById: sql(chain("checkpoints x", `x.thread_id = :threadId AND x.checkpoint_id = :checkpointId AND ${VISIBLE("x")}`)),
    loadBySeq: sql(chain("checkpoints x", "x.thread_id = :threadId AND x.seq = :seq")),
    textRun: sql(`SELECT c.search_text
FROM checkpoints x JOIN checkpoints c ON c.thread_id = x.thread_id AND c.seq BETWEEN COALESCE(x.text_root_seq, x.seq) AND x.seq
WHERE x.thread_id = :threadId AND x.seq = :seq ORDER BY c.seq`),
    checkpointSeq: sql("SELECT seq, parent_checkpoint_id, metadata FROM checkpoints WHERE thread_id = :threadId AND checkpoint_id = :checkpointId"),
    listCheckpoints: sql(`SELECT c.checkpoint_id FROM checkpoints c WHERE c.thread_id = :threadId AND ${VISIBLE("c")} ORDER BY c.seq DESC LIMIT :limit`),
    threadExists: sql(`SELECT 1 AS found FROM threads t WHERE t.thread_id = :threadId AND ${VISIBLE("t")}`),
    checkpointExists: sql(`SELECT 1 AS found FROM checkpoints c WHERE c.thread_id = :threadId AND c.checkpoint_id = :checkpointId AND ${VISIBLE("c")}`),
    infoLatest: sql(`SELECT t.thread_id, t.latest_checkpoint_id AS checkpoint_id, t.parent_checkpoint_id, t.updated_at AS created_at, t.metadata
FROM threads t WHERE t.thread_id = :threadId AND ${VISIBLE("t")}`),
    infoById: sql(`SELECT c.thread_id, c.checkpoint_id, c.parent_checkpoint_id, c.created_at, c.metadata
FROM checkpoints c WHERE c.thread_id = :threadId AND c.checkpoint_id = :checkpointId AND ${VISIBLE("c")}`),
    cursorPosition: sql("SELECT updated_at FROM threads WHERE thread_id = :cursor"),
    listThreads: sql(summaries(IN_RANGE)),
    listThreadsAfter: sql(summaries(`${IN_RANGE} AND (t.updated_at < :cursorAt OR (t.updated_at = :cursorAt AND t.thread_id < :cursor))`)),
    queryByMetadata: sql(`SELECT t.thread_id, t.latest_checkpoint_id AS checkpoint_id, t.updated_at, t.metadata
FROM thread_metadata m JOIN threads t ON t.thread_id = m.thread_id
WHERE m.pair_hash = :pairHash AND ${VISIBLE("t")} ${ORDER} LIMIT :limit`),
    // As on MySQL: the matching rows of each thread's latest text run; the engine scores them.
    search: sql(`SELECT c.thread_id, t.latest_checkpoint_id AS checkpoint_id, t.updated_at, c.seq, c.search_text
FROM checkpoints_fts JOIN checkpoints c ON c.id = checkpoints_fts.rowid
JOIN threads t ON t.thread_id = c.thread_id
JOIN checkpoints x ON x.thread_id = t.thread_id AND x.seq = t.latest_seq
WHERE checkpoints_fts MATCH :query AND ${VISIBLE("t")} AND c.seq BETWEEN COALESCE(x.text_root_seq, x.seq) AND x.seq
ORDER BY t.updated_at DESC, t.thread_id DESC LIMIT :limit`),
    // A tenant's threads by primary-key range, never the full-text index (which spans every tenant).
    searchWithin: sql(`SELECT c.thread_id, t.latest_checkpoint_id AS checkpoint_id, t.updated_at, c.seq, c.search_text
FROM (
  SELECT t.thread_id FROM threads t
  WHERE ${IN_RANGE} AND ${VISIBLE("t")}
  ORDER BY t.updated_at DESC, t.thread_id DESC LIMIT :candidates
) page JOIN threads t ON t.thread_id = page.thread_id
JOIN checkpoints x ON x.thread_id = t.thread_id AND x.seq = t.latest_seq
JOIN checkpoints c ON c.thread_id = t.thread_id AND c.seq BETWEEN COALESCE(x.text_root_seq, x.seq) AND x.seq
WHERE contains_any(c.search_text, :words)
ORDER BY t.updated_at DESC, t.thread_id DESC LIMIT :limit`),
    deadThreads: sql("SELECT thread_id FROM threads WHERE updated_at < :cutoff OR expires_at <= :now LIMIT :batch"),
    deadCheckpoints: sql(`SELECT c.thread_id, c.seq FROM checkpoints c JOIN threads t ON t.thread_id = c.thread_id
WHERE (c.created_at < :cutoff OR c.expires_at <= :now) AND c.seq < t.latest_seq
  AND (SELECT COUNT(*) FROM checkpoints n WHERE n.thread_id = c.thread_id AND n.seq > c.seq) >= :keepLast
LIMIT :batch`),
  } satisfies CheckpointStatements,
  // Each word a quoted string (no FTS5 operator survives), any of them matching.
  searchQuery: (terms) => terms.map((term) => `"${term}"`).join(" OR "),
};

/** The turn log's statements in SQLite's SQL. One machine's clock: every process on the file shares it. */
export function sqliteTurnStatements(): TurnStatements {
  const now = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";
  return turnStatements({
    turns: "turns",
    events: "turn_events",
    keys: "turn_keys",
    now,
    forUpdate: "",
    insertOrKeep: ["INSERT OR IGNORE INTO", ""],
    deleteEvents: `DELETE FROM turn_events WHERE turn_id IN (SELECT turn_id FROM turns WHERE ended_at < ${now} - :retentionMs)`,
  });
}
