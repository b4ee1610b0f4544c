import { MAX_CHAIN_DELTAS } from "../delta.js";
import { query } from "../mysql/query.js";
import type { TableNames } from "../mysql/schema.js";

/** A checkpoint row: the checkpoint without its channel values, in the serializer's bytes. */
export interface CheckpointRow {
  thread_id: string;
  checkpoint_ns: string;
  checkpoint_id: string;
  parent_checkpoint_id: string | null;
  type: string;
  checkpoint: Buffer;
  /** The JSON column, parsed by the driver. */
  metadata: unknown;
}

/**
 * A row of a channel value's chain (`task_id` null) or a pending write: the two share one result
 * shape. `depth` 0 is the value asked for; a row with a `base_version` is a splice of the next
 * deeper row of its channel.
 */
export interface ValueOrWriteRow {
  channel: string;
  type: string;
  data: Buffer;
  task_id: string | null;
  task_path: string | null;
  idx: number | null;
  version: string | null;
  base_version: string | null;
  splice_prefix: number | null;
  splice_suffix: number | null;
  row_token: Buffer | null;
  depth: number | null;
}

/** A row of a channel value's chain. */
export type ValueRow = ValueOrWriteRow & { task_id: null; version: string; depth: number };

/** A pending write. */
export type WriteRow = ValueOrWriteRow & { task_id: string; task_path: string; idx: number };

/** Rows per multi-row INSERT: one prepared statement per row count 1..ROWS_PER_INSERT. */
export const ROWS_PER_INSERT = 8;
/** (channel, version) pairs per read; unused pairs are bound as NULL, which matches nothing. */
export const CHANNELS_PER_READ = 64;

const placeholders = (rows: number, width: number) =>
  Array.from({ length: rows }, () => `(${Array.from({ length: width }, () => "?").join(", ")})`).join(", ");

/** The statement for 1..ROWS_PER_INSERT rows, at index `rows - 1`. */
const perRowCount = (width: number, sql: (values: string) => string) =>
  Array.from({ length: ROWS_PER_INSERT }, (_, i) => sql(placeholders(i + 1, width)));

/**
 * Every statement the LangGraph saver runs, as fixed text: mysql2 prepares each distinct string
 * once per connection, so none is built per call. Optional filters are `(? IS NULL OR …)`: MySQL
 * folds them per execution, so a bound NULL costs nothing and the primary key still drives the scan.
 */
export function langGraphStatements(t: TableNames) {
  const checkpoints = `\`${t.lgCheckpoints}\``;
  const blobs = `\`${t.lgBlobs}\``;
  const writes = `\`${t.lgWrites}\``;
  const pairs = placeholders(CHANNELS_PER_READ, 2);
  // Channel values with their chains: each (channel, version) asked for, then the rows its
  // splices are based on, one base at a time (a primary-key lookup each), up to its whole value.
  const valuesOf = `WITH RECURSIVE chain AS (
  SELECT channel, version, type, data, base_version, splice_prefix, splice_suffix, row_token, 0 AS depth FROM ${blobs}
  WHERE thread_id = ? AND checkpoint_ns = ? AND (channel, version) IN (${pairs})
  UNION ALL
  SELECT b.channel, b.version, b.type, b.data, b.base_version, b.splice_prefix, b.splice_suffix, b.row_token, c.depth + 1
  FROM chain c JOIN ${blobs} b ON b.thread_id = ? AND b.checkpoint_ns = ? AND b.channel = c.channel AND b.version = c.base_version
)
SELECT /*+ SET_VAR(cte_max_recursion_depth = ${MAX_CHAIN_DELTAS + 1}) */
  channel, type, data, NULL AS task_id, NULL AS task_path, NULL AS idx, version, base_version, splice_prefix, splice_suffix, row_token, depth FROM chain`;
  const blobColumns = "thread_id, checkpoint_ns, channel, version, type, data, base_version, splice_prefix, splice_suffix, row_token";
  const writeColumns = "thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, data, task_path";
  return {
    /** Params: threadId, checkpointNs, checkpointId, parentCheckpointId, type, checkpoint, metadata. */
    upsertCheckpoint: `INSERT INTO ${checkpoints} (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata)
VALUES (?, ?, ?, ?, ?, ?, ?) AS new
ON DUPLICATE KEY UPDATE type = new.type, checkpoint = new.checkpoint, metadata = new.metadata`,

    /**
     * A (channel, version) is written once: its value cannot change, so a repeat keeps the stored
     * row. (The no-op update, unlike INSERT IGNORE, still fails on bad data.) Params per row:
     * threadId, checkpointNs, channel, version, type, data, then for a splice baseVersion, prefix
     * and suffix (else three NULLs), then token.
     */
    insertBlobs: perRowCount(
      10,
      (values) => `INSERT INTO ${blobs} (${blobColumns})
VALUES ${values} ON DUPLICATE KEY UPDATE version = version`,
    ),

    /**
     * The tokens of the rows a put's splices are based on, read in the put's transaction: the
     * put holds its checkpoint row, so no prune or deleteThread of the thread removes them before
     * it commits. Params: threadId, checkpointNs, CHANNELS_PER_READ × (channel, version).
     */
    baseTokens: query<{ channel: string; version: string; row_token: Buffer | null }>(`SELECT channel, version, row_token FROM ${blobs}
WHERE thread_id = ? AND checkpoint_ns = ? AND (channel, version) IN (${pairs})`),

    /** A delta stored whole, before the rows it was based on go. Params: data, threadId, checkpointNs, channel, version. */
    materializeBlob: `UPDATE ${blobs} SET data = ?, base_version = NULL, splice_prefix = NULL, splice_suffix = NULL
WHERE thread_id = ? AND checkpoint_ns = ? AND channel = ? AND version = ?`,

    /** Regular writes: the first write of a (task, idx) wins, as in the PostgreSQL saver. */
    insertWrites: perRowCount(
      9,
      (values) => `INSERT INTO ${writes} (${writeColumns})
VALUES ${values} ON DUPLICATE KEY UPDATE idx = idx`,
    ),

    /** Special writes (errors, interrupts, resumes: negative idx) replace the earlier one. */
    upsertWrites: perRowCount(
      9,
      (values) => `INSERT INTO ${writes} (${writeColumns})
VALUES ${values} AS new
ON DUPLICATE KEY UPDATE channel = new.channel, type = new.type, data = new.data, task_path = new.task_path`,
    ),

    /**
     * Checkpoint rows, newest first (by id, then thread and namespace). Keys are sorted and cut
     * in a derived table that carries no blobs, then the few winners are fetched by primary key;
     * the caller restores the order. Params, each optional one twice: threadId, checkpointNs,
     * checkpointId, before, metadata filter (JSON, containment), limit (a string).
     */
    selectCheckpoints: query<CheckpointRow>(`SELECT c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id, c.type, c.checkpoint, c.metadata
FROM (
  SELECT thread_id, checkpoint_ns, checkpoint_id FROM ${checkpoints}
  WHERE (? IS NULL OR thread_id = ?) AND (? IS NULL OR checkpoint_ns = ?) AND (? IS NULL OR checkpoint_id = ?)
    AND (? IS NULL OR checkpoint_id < ?) AND (? IS NULL OR JSON_CONTAINS(metadata, ?))
  ORDER BY checkpoint_id DESC, thread_id DESC, checkpoint_ns DESC
  LIMIT ?
) k
JOIN ${checkpoints} c ON c.thread_id = k.thread_id AND c.checkpoint_ns = k.checkpoint_ns AND c.checkpoint_id = k.checkpoint_id`),

    /**
     * A checkpoint's channel values (rows with task_id NULL, with their chains) and its pending
     * writes, in one round trip. Params: threadId, checkpointNs, CHANNELS_PER_READ × (channel,
     * version), threadId, checkpointNs, then threadId, checkpointNs, checkpointId.
     */
    selectValuesAndWrites: query<ValueOrWriteRow>(`${valuesOf}
UNION ALL
SELECT channel, type, data, task_id, task_path, idx, NULL, NULL, NULL, NULL, NULL, NULL FROM ${writes}
WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?`),

    /** More channel values, for checkpoints with over CHANNELS_PER_READ channels (and prune's). Params as above, without the writes'. */
    selectValues: query<ValueRow>(valuesOf),

    /** Sends stored as writes of the parent, for checkpoints older than format v4. Params: threadId, checkpointNs, checkpointId, TASKS. */
    selectPendingSends: query<WriteRow>(`SELECT channel, type, data, task_id, task_path, idx FROM ${writes}
WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ? AND channel = ?`),

    // Checkpoints first, as put writes them first: the two lock in the same order.
    deleteThreadCheckpoints: `DELETE FROM ${checkpoints} WHERE thread_id = ?`,
    deleteThreadBlobs: `DELETE FROM ${blobs} WHERE thread_id = ?`,
    deleteThreadWrites: `DELETE FROM ${writes} WHERE thread_id = ?`,

    /** Copy, step 1: is the target taken? Locks the target's range, so no put lands meanwhile. */
    lockTargetThread: query<{ checkpoint_id: string }>(`SELECT checkpoint_id FROM ${checkpoints} WHERE thread_id = ? LIMIT 1 FOR UPDATE`),
    copyCheckpoints: `INSERT INTO ${checkpoints} (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata)
SELECT ?, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata FROM ${checkpoints} WHERE thread_id = ?`,
    copyBlobs: `INSERT INTO ${blobs} (${blobColumns})
SELECT ?, ${blobColumns.replace("thread_id, ", "")} FROM ${blobs} WHERE thread_id = ?`,
    copyWrites: `INSERT INTO ${writes} (${writeColumns})
SELECT ?, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, data, task_path FROM ${writes} WHERE thread_id = ?`,

    /**
     * Prune, step 1: the latest checkpoint id of each namespace of a thread. A locking read: it
     * sees the newest rows and locks the thread's range, so no put lands until the prune commits.
     */
    lockLatestPerNamespace: query<{ checkpoint_ns: string; checkpoint_id: string }>(`SELECT checkpoint_ns, MAX(checkpoint_id) AS checkpoint_id FROM ${checkpoints}
WHERE thread_id = ? GROUP BY checkpoint_ns FOR UPDATE`),
    /** Params: threadId, checkpointNs, the kept (latest) checkpointId. */
    pruneCheckpoints: `DELETE FROM ${checkpoints} WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id < ?`,
    pruneWrites: `DELETE FROM ${writes} WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id < ?`,
    /** Params: threadId, checkpointNs, JSON array of the kept [channel, version] pairs. */
    pruneBlobs: `DELETE FROM ${blobs}
WHERE thread_id = ? AND checkpoint_ns = ? AND NOT JSON_ARRAY(channel, version) MEMBER OF (CAST(? AS JSON))`,
  };
}

export type LangGraphStatements = ReturnType<typeof langGraphStatements>;
