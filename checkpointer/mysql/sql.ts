import type { Metadata } from "../types.js";
import { query } from "./query.js";
import type { TableNames } from "./schema.js";

/** A listing's row: a thread and the header of its latest checkpoint. */
export interface SummaryRow {
  thread_id: string;
  checkpoint_id: string;
  updated_at: Date;
  metadata: Metadata;
}

/** A checkpoint's header. */
export interface InfoRow {
  thread_id: string;
  checkpoint_id: string;
  parent_checkpoint_id: string | null;
  created_at: Date;
  metadata: Metadata;
}

type ThreadIdRow = { thread_id: string };

/**
 * One row of a checkpoint's chain, oldest first: a snapshot (`snapshot_seq` NULL, `state` the
 * whole document), then splices. `checkpoint_id` and `row_token` are the loaded checkpoint's.
 */
export interface ChainRow {
  checkpoint_id: string;
  row_token: Buffer | null;
  seq: number;
  snapshot_seq: number | null;
  splice_prefix: number | null;
  splice_suffix: number | null;
  state: Buffer;
}

/** A checkpoint's place in its thread's history, as deletes need it. */
export interface HistoryRow {
  seq: number;
  snapshot_seq: number | null;
  text_root_seq: number | null;
}

/** A search hit: `score` is MATCH's relevance (a double). */
type SearchRow = { thread_id: string; checkpoint_id: string; score: number; updated_at: Date; search_text: string };

// Time conditions take the clock as a parameter (`?`), so TTL and vacuum follow one clock.
const VISIBLE = (alias: string) => `(${alias}.expires_at IS NULL OR ${alias}.expires_at > ?)`;

/**
 * Every statement the MySQL backend runs, as fixed text: mysql2 prepares each distinct string
 * once per connection, so none is built per call (that would leak prepared statements).
 */
export function statements(t: TableNames) {
  const threads = `\`${t.threads}\``;
  const checkpoints = `\`${t.checkpoints}\``;
  /**
   * Checkpoints found by `dead` on `index` that are neither a thread's latest nor among its newest
   * `?` (keepLast); at most `?` (batch). Forced onto the index, and to start from the checkpoints:
   * with many old rows the optimizer would rather scan every thread, once per batch.
   */
  const deadHistory = (index: string, dead: string) => `SELECT c.thread_id, c.seq FROM ${checkpoints} c FORCE INDEX (${index})
STRAIGHT_JOIN ${threads} t ON t.thread_id = c.thread_id
WHERE ${dead} AND c.seq < t.latest_seq
  AND (SELECT COUNT(*) FROM ${checkpoints} n WHERE n.thread_id = c.thread_id AND n.seq > c.seq) >= ?
LIMIT ?`;
  // Thread listings read the thread table only, newest first; ties broken by thread id.
  const ORDER = "ORDER BY t.updated_at DESC, t.thread_id DESC";
  const listThreads = query<ThreadIdRow>(`SELECT t.thread_id FROM ${threads} t WHERE ${VISIBLE("t")} ${ORDER} LIMIT ?`);
  const listThreadsPrefix = query<ThreadIdRow>(
    `SELECT t.thread_id FROM ${threads} t WHERE t.thread_id LIKE ? ESCAPE '!' AND ${VISIBLE("t")} ${ORDER} LIMIT ?`,
  );
  const listThreadsAfter = query<ThreadIdRow>(`SELECT t.thread_id FROM ${threads} t
WHERE t.thread_id LIKE ? ESCAPE '!' AND ${VISIBLE("t")} AND (t.updated_at < ? OR (t.updated_at = ? AND t.thread_id < ?))
${ORDER} LIMIT ?`);
  // A deferred join: the page is picked from the covering index, then only its rows are read.
  const withMetadata = (page: string) =>
    query<SummaryRow>(`SELECT t.thread_id, t.latest_checkpoint_id AS checkpoint_id, t.updated_at, t.metadata FROM (
${page}
) page JOIN ${threads} t ON t.thread_id = page.thread_id ${ORDER}`);
  /**
   * Full-text search over each thread's latest checkpoint, ranked per thread. A checkpoint
   * indexes only the lines it added to its parent's text, so the latest's text is the run of rows
   * from its text root (`text_root_seq`) to it: a thread's score is the sum over that run, its
   * snippet from the row that matched best. Ranks in derived tables that carry no text (sorting
   * wide rows can exhaust the sort buffer), then fetches the text of the few winners.
   * Params: query, query, now, [the prefix's LIKE pattern,] limit.
   */
  const search = (where: string) =>
    query<SearchRow>(`SELECT h.thread_id, h.checkpoint_id, h.score, h.updated_at, c.search_text FROM (
  SELECT r.thread_id, r.seq, r.checkpoint_id, r.updated_at, r.total AS score FROM (
    SELECT m.*, SUM(m.score) OVER (PARTITION BY m.thread_id) AS total,
      ROW_NUMBER() OVER (PARTITION BY m.thread_id ORDER BY m.score DESC, m.seq DESC) AS pick
    FROM (
      SELECT c.thread_id, c.seq, t.latest_checkpoint_id AS checkpoint_id, t.updated_at,
        MATCH(c.search_text) AGAINST (? IN NATURAL LANGUAGE MODE) AS score
      FROM ${checkpoints} c JOIN ${threads} t ON t.thread_id = c.thread_id
      JOIN ${checkpoints} x ON x.thread_id = t.thread_id AND x.seq = t.latest_seq
      WHERE MATCH(c.search_text) AGAINST (? IN NATURAL LANGUAGE MODE) AND ${VISIBLE("t")}
        AND c.seq BETWEEN COALESCE(x.text_root_seq, x.seq) AND x.seq${where}
    ) m
  ) r WHERE r.pick = 1 ORDER BY r.total DESC, r.updated_at DESC LIMIT ?
) h JOIN ${checkpoints} c ON c.thread_id = h.thread_id AND c.seq = h.seq`);
  /** The rows a load reads: from the checkpoint `target` picks back to its snapshot, oldest first. */
  const chain = (from: string, where: string) =>
    query<ChainRow>(`SELECT x.checkpoint_id, x.row_token, c.seq, c.snapshot_seq, c.splice_prefix, c.splice_suffix, c.state
FROM ${from}
JOIN ${checkpoints} c ON c.thread_id = x.thread_id AND c.seq BETWEEN COALESCE(x.snapshot_seq, x.seq) AND x.seq
WHERE ${where} ORDER BY c.seq`);
  const CHECKPOINT_COLUMNS = "thread_id, seq, checkpoint_id, parent_checkpoint_id, created_at, expires_at, metadata, state, search_text, snapshot_seq, splice_prefix, splice_suffix, row_token, text_root_seq";
  return {
    /**
     * Save, step 1: lock the thread row (creating it), take the next seq and make the new
     * checkpoint its latest. ON DUPLICATE KEY UPDATE assigns left to right and later
     * assignments see earlier ones, so the parent is read before latest_checkpoint_id changes.
     * An expired thread restarts with no parent.
     * Params: threadId, checkpointId, now, expiresAt, metadata, metadataIndex.
     */
    saveThread: `INSERT INTO ${threads}
  (thread_id, next_seq, latest_seq, latest_checkpoint_id, parent_checkpoint_id, updated_at, expires_at, metadata, metadata_index)
VALUES (?, 2, 1, ?, NULL, ?, ?, ?, ?) AS n
ON DUPLICATE KEY UPDATE
  parent_checkpoint_id = IF(${threads}.expires_at IS NULL OR ${threads}.expires_at > n.updated_at, ${threads}.latest_checkpoint_id, NULL),
  latest_seq = ${threads}.next_seq,
  next_seq = ${threads}.next_seq + 1,
  latest_checkpoint_id = n.latest_checkpoint_id,
  updated_at = n.updated_at,
  expires_at = n.expires_at,
  metadata = n.metadata,
  metadata_index = n.metadata_index`,

    /**
     * Save, step 2, as a delta: the checkpoint row, copied from the locked thread row, holding a
     * splice of the parent's document. Inserted only if the parent row (the thread's previous
     * latest) is the very row the splice was computed from (`row_token`); its chain goes on.
     * The search text is the lines added to the parent's (appended = 1) or the whole text.
     * Params: middle, searchText, prefix, suffix, token, appended (0/1), threadId, parentToken.
     */
    saveDelta: `INSERT INTO ${checkpoints} (${CHECKPOINT_COLUMNS})
SELECT t.thread_id, t.latest_seq, t.latest_checkpoint_id, t.parent_checkpoint_id, t.updated_at, t.expires_at, t.metadata,
  ?, ?, COALESCE(p.snapshot_seq, p.seq), ?, ?, ?, IF(? = 1, COALESCE(p.text_root_seq, p.seq), NULL)
FROM ${threads} t JOIN ${checkpoints} p ON p.thread_id = t.thread_id AND p.checkpoint_id = t.parent_checkpoint_id
WHERE t.thread_id = ? AND p.row_token = ?`,

    /**
     * Save, step 2, as a snapshot: the whole document. The compare-and-set is in the WHERE: no
     * row inserted means the thread moved on. The search text is the lines added to the
     * parent's only if the parent is the row they were computed from, else the whole text.
     * Params: state, parentToken (or NULL), appended (0/1), addedText, wholeText, token,
     * parentToken, appended, threadId, checkParent (0/1), expectedParent.
     */
    saveSnapshot: `INSERT INTO ${checkpoints} (${CHECKPOINT_COLUMNS})
SELECT t.thread_id, t.latest_seq, t.latest_checkpoint_id, t.parent_checkpoint_id, t.updated_at, t.expires_at, t.metadata,
  ?, IF(p.row_token = ? AND ? = 1, ?, ?), NULL, NULL, NULL, ?, IF(p.row_token = ? AND ? = 1, COALESCE(p.text_root_seq, p.seq), NULL)
FROM ${threads} t LEFT JOIN ${checkpoints} p ON p.thread_id = t.thread_id AND p.checkpoint_id = t.parent_checkpoint_id
WHERE t.thread_id = ? AND (? = 0 OR t.parent_checkpoint_id <=> ?)`,

    /**
     * A checkpoint's whole search text, as the rows of its text run, with its token: what a save
     * appends to when this process loaded the parent but did not compute its text.
     * Params: threadId, checkpointId.
     */
    textRun: query<{ search_text: string; row_token: Buffer | null }>(`SELECT c.search_text, x.row_token
FROM ${checkpoints} x JOIN ${checkpoints} c ON c.thread_id = x.thread_id AND c.seq BETWEEN COALESCE(x.text_root_seq, x.seq) AND x.seq
WHERE x.thread_id = ? AND x.checkpoint_id = ? ORDER BY c.seq`),

    /** The thread's latest checkpoint's chain. Params: threadId, now. */
    loadLatest: chain(`${threads} t JOIN ${checkpoints} x ON x.thread_id = t.thread_id AND x.seq = t.latest_seq`, `t.thread_id = ? AND ${VISIBLE("t")}`),
    /** A checkpoint's chain. Params: threadId, checkpointId, now. */
    loadById: chain(`${checkpoints} x`, `x.thread_id = ? AND x.checkpoint_id = ? AND ${VISIBLE("x")}`),
    /** A checkpoint's chain, expired or not, as a retried save compares it. Params: threadId, checkpointId. */
    loadStored: chain(`${checkpoints} x`, `x.thread_id = ? AND x.checkpoint_id = ?`),

    listCheckpoints: query<{ checkpoint_id: string }>(`SELECT c.checkpoint_id FROM ${checkpoints} c
WHERE c.thread_id = ? AND ${VISIBLE("c")} ORDER BY c.seq DESC LIMIT ?`),

    threadExists: query<{ found: number }>(`SELECT 1 AS found FROM ${threads} t WHERE t.thread_id = ? AND ${VISIBLE("t")}`),

    checkpointExists: query<{ found: number }>(`SELECT 1 AS found FROM ${checkpoints} c WHERE c.thread_id = ? AND c.checkpoint_id = ? AND ${VISIBLE("c")}`),

    infoLatest: query<InfoRow>(`SELECT t.thread_id, t.latest_checkpoint_id AS checkpoint_id, t.parent_checkpoint_id, t.updated_at AS created_at, t.metadata
FROM ${threads} t WHERE t.thread_id = ? AND ${VISIBLE("t")}`),

    infoById: query<InfoRow>(`SELECT c.thread_id, c.checkpoint_id, c.parent_checkpoint_id, c.created_at, c.metadata
FROM ${checkpoints} c WHERE c.thread_id = ? AND c.checkpoint_id = ? AND ${VISIBLE("c")}`),

    lockThread: query<{ latest_seq: number }>(`SELECT latest_seq FROM ${threads} WHERE thread_id = ? FOR UPDATE`),
    lockThreadShared: query<{ latest_seq: number }>(`SELECT t.latest_seq FROM ${threads} t WHERE t.thread_id = ? AND ${VISIBLE("t")} FOR SHARE`),
    lockThreadExpiry: query<{ expires_at: Date | null }>(`SELECT t.expires_at FROM ${threads} t WHERE t.thread_id = ? FOR UPDATE`),
    /** A checkpoint's header as a retried save compares it, expired or not (its document: loadStored). */
    savedCheckpoint: query<{ metadata: Metadata; parent_checkpoint_id: string | null }>(
      `SELECT metadata, parent_checkpoint_id FROM ${checkpoints} WHERE thread_id = ? AND checkpoint_id = ?`,
    ),
    checkpointSeq: query<{ seq: number }>(`SELECT seq FROM ${checkpoints} WHERE thread_id = ? AND checkpoint_id = ?`),

    // Removing checkpoints from a history (delete, vacuum): the next one keeps its text and, if it
    // was a splice of what goes, becomes a snapshot first.
    history: query<HistoryRow>(`SELECT seq, snapshot_seq, text_root_seq FROM ${checkpoints} WHERE thread_id = ? ORDER BY seq FOR UPDATE`),
    /** A checkpoint's chain by seq. Params: threadId, seq. */
    chainBySeq: chain(`${checkpoints} x`, `x.thread_id = ? AND x.seq = ?`),
    rangeTexts: query<{ search_text: string }>(`SELECT search_text FROM ${checkpoints} WHERE thread_id = ? AND seq BETWEEN ? AND ? ORDER BY seq`),
    deleteRange: `DELETE FROM ${checkpoints} WHERE thread_id = ? AND seq BETWEEN ? AND ?`,
    /** Params: the whole document, threadId, seq. */
    materialize: `UPDATE ${checkpoints} SET state = ?, snapshot_seq = NULL, splice_prefix = NULL, splice_suffix = NULL WHERE thread_id = ? AND seq = ?`,
    /** The rest of a chain after its new snapshot. Params: new snapshot seq, threadId, old snapshot seq, new snapshot seq. */
    rebaseChain: `UPDATE ${checkpoints} SET snapshot_seq = ? WHERE thread_id = ? AND snapshot_seq = ? AND seq > ?`,
    /** A checkpoint that now indexes its whole text. Params: text, threadId, seq. */
    setTextRoot: `UPDATE ${checkpoints} SET search_text = ?, text_root_seq = NULL WHERE thread_id = ? AND seq = ?`,
    /** The rest of a text run after its new root. Params: new root seq, threadId, old root seq, new root seq. */
    rebaseText: `UPDATE ${checkpoints} SET text_root_seq = ? WHERE thread_id = ? AND text_root_seq = ? AND seq > ?`,
    newestCheckpoint: query<InfoRow & { seq: number; expires_at: Date | null }>(`SELECT seq, checkpoint_id, parent_checkpoint_id, created_at, expires_at, metadata
FROM ${checkpoints} WHERE thread_id = ? ORDER BY seq DESC LIMIT 1`),
    repointThread: `UPDATE ${threads} SET latest_seq = ?, latest_checkpoint_id = ?, parent_checkpoint_id = ?,
  updated_at = ?, expires_at = ?, metadata = ?, metadata_index = ? WHERE thread_id = ?`,
    // The thread row first: saves lock it first too, so the two never deadlock.
    deleteThreadRow: `DELETE FROM ${threads} WHERE thread_id = ?`,
    deleteThreadCheckpoints: `DELETE FROM ${checkpoints} WHERE thread_id = ?`,

    listThreads,
    listThreadsPrefix,
    listThreadsAfter,
    cursorPosition: query<{ updated_at: Date }>(`SELECT updated_at FROM ${threads} WHERE thread_id = ?`),
    listWithMetadata: withMetadata(listThreads),
    listWithMetadataPrefix: withMetadata(listThreadsPrefix),
    listWithMetadataAfter: withMetadata(listThreadsAfter),

    /** Uses the multi-valued index on metadata_index. Params: pair hash, now, limit. */
    queryByMetadata: query<SummaryRow>(`SELECT t.thread_id, t.latest_checkpoint_id AS checkpoint_id, t.updated_at, t.metadata FROM ${threads} t
WHERE ? MEMBER OF (t.metadata_index) AND ${VISIBLE("t")} ORDER BY t.updated_at DESC, t.thread_id DESC LIMIT ?`),

    search: search(""),
    searchPrefix: search(" AND t.thread_id LIKE ? ESCAPE '!'"),

    /**
     * Vacuum: threads whose latest checkpoint is dead go whole. Dead means old or expired; one
     * UNION branch per index, as an OR of the two scanned the table (once per batch). Params:
     * cutoff, batch, now, batch, batch.
     */
    deadThreads: query<ThreadIdRow>(`(SELECT thread_id FROM ${threads} FORCE INDEX (updated) WHERE updated_at < ? LIMIT ?)
UNION (SELECT thread_id FROM ${threads} FORCE INDEX (expires) WHERE expires_at <= ? LIMIT ?) LIMIT ?`),
    /**
     * Dead checkpoints of live threads, except the latest and the newest `keepLast`, found from
     * the created or expires index. Params: cutoff, keepLast, batch, now, keepLast, batch, batch.
     */
    deadCheckpoints: query<{ thread_id: string; seq: number }>(`(${deadHistory("created", "c.created_at < ?")}) UNION (${deadHistory("expires", "c.expires_at <= ?")}) LIMIT ?`),
    // Re-checked under the row lock: a save may have revived the thread since it was picked.
    lockDeadThread: query<ThreadIdRow>(`SELECT thread_id FROM ${threads} WHERE thread_id = ? AND (updated_at < ? OR expires_at <= ?) FOR UPDATE`),
    /**
     * A thread's dead checkpoints up to a seq picked by deadCheckpoints: every older one has even
     * more newer checkpoints, so none is protected by keepLast. Never the latest, even if a delete
     * moved the pointer since the batch was picked. Params: threadId, seq, cutoff, now, threadId.
     */
    deadSeqs: query<{ seq: number }>(`SELECT seq FROM ${checkpoints}
WHERE thread_id = ? AND seq <= ? AND (created_at < ? OR expires_at <= ?)
  AND seq < (SELECT latest_seq FROM ${threads} WHERE thread_id = ?) ORDER BY seq`),

    copyThreadRow: `INSERT INTO ${threads}
  (thread_id, next_seq, latest_seq, latest_checkpoint_id, parent_checkpoint_id, updated_at, expires_at, metadata, metadata_index)
SELECT ?, next_seq, latest_seq, latest_checkpoint_id, parent_checkpoint_id, updated_at, expires_at, metadata, metadata_index
FROM ${threads} WHERE thread_id = ?`,
    /** Params: destThreadId, sourceThreadId, the last seq to copy. */
    copyCheckpoints: `INSERT INTO ${checkpoints} (${CHECKPOINT_COLUMNS})
SELECT ?, seq, checkpoint_id, parent_checkpoint_id, created_at, expires_at, metadata, state, search_text, snapshot_seq, splice_prefix, splice_suffix, row_token, text_root_seq
FROM ${checkpoints} WHERE thread_id = ? AND seq <= ?`,
  };
}

export type Statements = ReturnType<typeof statements>;
