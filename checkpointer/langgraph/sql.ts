import { MAX_CHAIN_DELTAS } from "../delta.js";
import type { TableNames } from "../mysql/schema.js";
import { sql, type Params, type Statement } from "../statement.js";

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
 * shape. `depth` 0 is the value asked for; a row with a `base_version` is a splice of that
 * version's row of its channel. `doc_bytes` and `doc_crc32` are of the value the row rebuilds
 * (NULL for rows written before schema v5); `encoding` is how `data` is stored (see stored-document.ts).
 */
export interface ValueOrWriteRow {
  channel: string;
  type: string;
  data: Buffer;
  encoding: number;
  task_id: string | null;
  task_path: string | null;
  idx: number | null;
  version: string | null;
  base_version: string | null;
  splice_prefix: number | null;
  splice_suffix: number | null;
  doc_bytes: number | null;
  doc_crc32: number | null;
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

/**
 * The params of a statement that repeats a group of names, one group per row or pair: `R`'s
 * names with the row's index appended (`{ channel: string }` gives `channel0`, `channel1`, …).
 */
export type Numbered<R extends Params> = { [K in keyof R & string as `${K}${number}`]: R[K] };

/** The params of rows `R`, numbered as the statement for `rows.length` rows names them. */
export function numbered<R extends Params>(rows: readonly R[]): Numbered<R> {
  const params: Params = {};
  rows.forEach((row, i) => {
    for (const [name, value] of Object.entries(row)) params[`${name}${i}`] = value;
  });
  return params as Numbered<R>;
}

/** One (channel, version) pair of a read; a NULL pair matches nothing. */
type Pair = { channel: string | null; version: string | null };
export type ChannelPairs = Numbered<Pair>;

/** CHANNELS_PER_READ pairs' params: these, then NULL pairs. */
export function channelPairs(pairs: readonly (readonly [channel: string, version: string])[]): ChannelPairs {
  if (pairs.length > CHANNELS_PER_READ) throw new RangeError(`at most ${CHANNELS_PER_READ} (channel, version) pairs per read, got ${pairs.length}`);
  const padded: Pair[] = Array.from({ length: CHANNELS_PER_READ }, (_, i) => {
    const pair = pairs[i];
    return pair === undefined ? { channel: null, version: null } : { channel: pair[0], version: pair[1] };
  });
  return numbered(padded);
}

/** A channel value's row as a put writes it (shared: threadId, checkpointNs). */
export type BlobValues = {
  channel: string;
  version: string;
  type: string;
  data: Buffer;
  encoding: number;
  /** For a splice: the version of the channel's row it is based on, and what it keeps of it; else NULLs. */
  baseVersion: string | null;
  splicePrefix: number | null;
  spliceSuffix: number | null;
  docBytes: number;
  docCrc32: number;
  rowToken: Buffer;
};

/** A pending write's row (shared: threadId, checkpointNs, checkpointId, taskId, taskPath). */
export type WriteValues = { idx: number; channel: string; type: string; data: Buffer };

type Thread = { threadId: string };
type Namespace = { threadId: string; checkpointNs: string };
type ThreadCheckpoint = Namespace & { checkpointId: string };
type WriteKey = ThreadCheckpoint & { taskId: string; taskPath: string };

/** Which checkpoint rows a read wants: each filter optional (NULL), `limit` as decimal text. */
export type Selection = {
  threadId: string | null;
  checkpointNs: string | null;
  checkpointId: string | null;
  before: string | null;
  filter: string | null;
  limit: string;
};

/** `(:a0, :b0), (:a1, :b1), …` for `count` groups; a name starting with `=` is shared (not numbered). */
function groups(count: number, names: readonly string[]): string {
  return Array.from({ length: count }, (_, i) => `(${names.map((n) => (n.startsWith("=") ? `:${n.slice(1)}` : `:${n}${i}`)).join(", ")})`).join(", ");
}

/** The statement for 1..ROWS_PER_INSERT rows, at index `rows - 1`. */
function perRowCount<P extends Params>(names: readonly string[], text: (values: string) => string): readonly Statement<P>[] {
  return Array.from({ length: ROWS_PER_INSERT }, (_, i) => sql<P>(text(groups(i + 1, names))));
}

/**
 * Every statement the LangGraph saver runs, as fixed text with named parameters: mysql2
 * prepares each distinct text once per connection, so none is built per call. Optional filters
 * are `(:x IS NULL OR …)`: MySQL folds them per execution, so a bound NULL costs nothing and the
 * primary key still drives the scan.
 */
export function langGraphStatements(t: TableNames) {
  const checkpoints = `\`${t.lgCheckpoints}\``;
  const blobs = `\`${t.lgBlobs}\``;
  const writes = `\`${t.lgWrites}\``;
  const pairs = groups(CHANNELS_PER_READ, ["channel", "version"]);
  const valueColumns = "channel, version, type, data, encoding, base_version, splice_prefix, splice_suffix, doc_bytes, doc_crc32, row_token";
  // Channel values with their chains: each (channel, version) asked for, then the rows its
  // splices are based on, one base at a time (a primary-key lookup each), up to its whole value.
  // A base that is missing ends the walk early, which the saver reports as CORRUPT.
  const valuesOf = `WITH RECURSIVE chain AS (
  SELECT ${valueColumns}, 0 AS depth FROM ${blobs}
  WHERE thread_id = :threadId AND checkpoint_ns = :checkpointNs AND (channel, version) IN (${pairs})
  UNION ALL
  SELECT ${valueColumns.replace(/(\w+)/g, "b.$1")}, c.depth + 1
  FROM chain c JOIN ${blobs} b ON b.thread_id = :threadId AND b.checkpoint_ns = :checkpointNs AND b.channel = c.channel AND b.version = c.base_version
)
SELECT /*+ SET_VAR(cte_max_recursion_depth = ${MAX_CHAIN_DELTAS + 1}) */
  channel, type, data, encoding, NULL AS task_id, NULL AS task_path, NULL AS idx, version, base_version, splice_prefix, splice_suffix,
  doc_bytes, doc_crc32, row_token, depth FROM chain`;
  const blobColumns = `thread_id, checkpoint_ns, ${valueColumns}`;
  const blobNames = ["=threadId", "=checkpointNs", "channel", "version", "type", "data", "encoding", "baseVersion", "splicePrefix", "spliceSuffix", "docBytes", "docCrc32", "rowToken"];
  const writeColumns = "thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, data, task_path";
  const writeNames = ["=threadId", "=checkpointNs", "=checkpointId", "=taskId", "idx", "channel", "type", "data", "=taskPath"];
  return {
    upsertCheckpoint: sql<ThreadCheckpoint & { parentCheckpointId: string | null; type: string; checkpoint: Buffer; metadata: string }>(
      `INSERT INTO ${checkpoints} (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata)
VALUES (:threadId, :checkpointNs, :checkpointId, :parentCheckpointId, :type, :checkpoint, :metadata) AS new
ON DUPLICATE KEY UPDATE type = new.type, checkpoint = new.checkpoint, metadata = new.metadata`,
    ),

    /**
     * A (channel, version) is written once: its value cannot change, so a repeat keeps the stored
     * row. (The no-op update, unlike INSERT IGNORE, still fails on bad data.)
     */
    insertBlobs: perRowCount<Namespace & Numbered<BlobValues>>(
      blobNames,
      (values) => `INSERT INTO ${blobs} (${blobColumns})
VALUES ${values} ON DUPLICATE KEY UPDATE version = version`,
    ),

    /**
     * The tokens of the rows a put's splices are based on, read in the put's transaction: the
     * put holds its checkpoint row, so no prune or deleteThread of the thread removes them before
     * it commits.
     */
    baseTokens: sql<Namespace & ChannelPairs, { channel: string; version: string; row_token: Buffer | null }>(
      `SELECT channel, version, row_token FROM ${blobs}
WHERE thread_id = :threadId AND checkpoint_ns = :checkpointNs AND (channel, version) IN (${pairs})`,
    ),

    /** A delta stored whole (encoded, with its checks), before the rows it was based on go. */
    materializeBlob: sql<Namespace & { channel: string; version: string; data: Buffer; encoding: number; docBytes: number; docCrc32: number }>(
      `UPDATE ${blobs} SET data = :data, encoding = :encoding, base_version = NULL, splice_prefix = NULL, splice_suffix = NULL,
  doc_bytes = :docBytes, doc_crc32 = :docCrc32
WHERE thread_id = :threadId AND checkpoint_ns = :checkpointNs AND channel = :channel AND version = :version`,
    ),

    /** Regular writes: the first write of a (task, idx) wins, as in the PostgreSQL saver. */
    insertWrites: perRowCount<WriteKey & Numbered<WriteValues>>(
      writeNames,
      (values) => `INSERT INTO ${writes} (${writeColumns})
VALUES ${values} ON DUPLICATE KEY UPDATE idx = idx`,
    ),

    /** Special writes (errors, interrupts, resumes: negative idx) replace the earlier one. */
    upsertWrites: perRowCount<WriteKey & Numbered<WriteValues>>(
      writeNames,
      (values) => `INSERT INTO ${writes} (${writeColumns})
VALUES ${values} AS new
ON DUPLICATE KEY UPDATE channel = new.channel, type = new.type, data = new.data, task_path = new.task_path`,
    ),

    /**
     * Checkpoint rows, newest first (by id, then thread and namespace). Keys are sorted and cut
     * in a derived table that carries no blobs, then the few winners are fetched by primary key;
     * the caller restores the order. The metadata filter is JSON, matched by containment.
     */
    selectCheckpoints: sql<Selection, CheckpointRow>(
      `SELECT c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id, c.type, c.checkpoint, c.metadata
FROM (
  SELECT thread_id, checkpoint_ns, checkpoint_id FROM ${checkpoints}
  WHERE (:threadId IS NULL OR thread_id = :threadId) AND (:checkpointNs IS NULL OR checkpoint_ns = :checkpointNs)
    AND (:checkpointId IS NULL OR checkpoint_id = :checkpointId) AND (:before IS NULL OR checkpoint_id < :before)
    AND (:filter IS NULL OR JSON_CONTAINS(metadata, :filter))
  ORDER BY checkpoint_id DESC, thread_id DESC, checkpoint_ns DESC
  LIMIT :limit
) k
JOIN ${checkpoints} c ON c.thread_id = k.thread_id AND c.checkpoint_ns = k.checkpoint_ns AND c.checkpoint_id = k.checkpoint_id`,
    ),

    /** A checkpoint's channel values (rows with task_id NULL, with their chains) and its pending writes, in one round trip. */
    selectValuesAndWrites: sql<ThreadCheckpoint & ChannelPairs, ValueOrWriteRow>(
      `${valuesOf}
UNION ALL
SELECT channel, type, data, 0, task_id, task_path, idx, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM ${writes}
WHERE thread_id = :threadId AND checkpoint_ns = :checkpointNs AND checkpoint_id = :checkpointId`,
    ),

    /** More channel values, for checkpoints with over CHANNELS_PER_READ channels (and prune's). */
    selectValues: sql<Namespace & ChannelPairs, ValueRow>(valuesOf),

    /** Sends stored as writes of the parent, for checkpoints older than format v4. */
    selectPendingSends: sql<ThreadCheckpoint & { channel: string }, WriteRow>(
      `SELECT channel, type, data, task_id, task_path, idx FROM ${writes}
WHERE thread_id = :threadId AND checkpoint_ns = :checkpointNs AND checkpoint_id = :checkpointId AND channel = :channel`,
    ),

    // Checkpoints first, as put writes them first: the two lock in the same order.
    deleteThread: sql<Thread>(
      `DELETE FROM ${checkpoints} WHERE thread_id = :threadId`,
      `DELETE FROM ${blobs} WHERE thread_id = :threadId`,
      `DELETE FROM ${writes} WHERE thread_id = :threadId`,
    ),

    /** Copy, step 1: is the target taken? Locks the target's range, so no put lands meanwhile. */
    lockTargetThread: sql<Thread, { checkpoint_id: string }>(`SELECT checkpoint_id FROM ${checkpoints} WHERE thread_id = :threadId LIMIT 1 FOR UPDATE`),
    /** Copy, step 2: every row of the source thread, as stored (blobs keep their encoding, checks and bases). */
    copyThread: sql<Thread & { sourceThreadId: string }>(
      `INSERT INTO ${checkpoints} (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata)
SELECT :threadId, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata FROM ${checkpoints} WHERE thread_id = :sourceThreadId`,
      `INSERT INTO ${blobs} (${blobColumns})
SELECT :threadId, checkpoint_ns, ${valueColumns} FROM ${blobs} WHERE thread_id = :sourceThreadId`,
      `INSERT INTO ${writes} (${writeColumns})
SELECT :threadId, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, data, task_path FROM ${writes} WHERE thread_id = :sourceThreadId`,
    ),

    /**
     * Prune, step 1: the latest checkpoint id of each namespace of a thread. A locking read: it
     * sees the newest rows and locks the thread's range, so no put lands until the prune commits.
     */
    lockLatestPerNamespace: sql<Thread, { checkpoint_ns: string; checkpoint_id: string }>(
      `SELECT checkpoint_ns, MAX(checkpoint_id) AS checkpoint_id FROM ${checkpoints}
WHERE thread_id = :threadId GROUP BY checkpoint_ns FOR UPDATE`,
    ),
    /** The checkpoints of a namespace before the kept (latest) one, and their writes. */
    pruneHistory: sql<ThreadCheckpoint>(
      `DELETE FROM ${checkpoints} WHERE thread_id = :threadId AND checkpoint_ns = :checkpointNs AND checkpoint_id < :checkpointId`,
      `DELETE FROM ${writes} WHERE thread_id = :threadId AND checkpoint_ns = :checkpointNs AND checkpoint_id < :checkpointId`,
    ),
    /** The namespace's values other than the kept ones (`kept`: a JSON array of [channel, version] pairs). */
    pruneBlobs: sql<Namespace & { kept: string }>(
      `DELETE FROM ${blobs}
WHERE thread_id = :threadId AND checkpoint_ns = :checkpointNs AND NOT JSON_ARRAY(channel, version) MEMBER OF (CAST(:kept AS JSON))`,
    ),
  };
}

export type LangGraphStatements = ReturnType<typeof langGraphStatements>;
