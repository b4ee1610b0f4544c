// The statements the storage engine (sql-backend.ts) runs, by name, with what each binds and
// returns. Each database writes them in its own SQL (mysql/sql.ts, sqlite/sql.ts) over the same
// tables: a thread row (its latest checkpoint's header) and one row per checkpoint.
import type { Metadata } from "./types.js";
import type { Statement } from "./statement.js";

/** MySQL returns DATETIME as Date and JSON parsed; SQLite stores epoch milliseconds and JSON text. */
export type StoredTime = Date | number;
export type StoredJson = Metadata | string;

/** The thread row, locked, with its latest checkpoint's links and the seq of the checkpoint a save names. */
export interface LockRow {
  next_seq: number;
  latest_seq: number;
  latest_checkpoint_id: string;
  expires_at: StoredTime | null;
  /** The latest checkpoint row's token: a cached document is the base of a delta only if it matches. */
  row_token: Buffer | Uint8Array | null;
  text_root_seq: number | null;
  /** The latest row's base (null: it is whole) and the first row of its chain. */
  base_seq: number | null;
  snapshot_seq: number | null;
  /** The seq of the checkpoint named by the statement's `checkpointId` in this thread, if any. */
  named_seq: number | null;
}

/**
 * A row of the range a load reads: from the first row of the asked checkpoint's chain (its
 * `snapshot_seq`, a hint that may reach further back, never less far) to the checkpoint itself
 * (`target_seq`). The chain itself is found by following `base_seq` from the target.
 */
export interface ChainRow {
  seq: number;
  checkpoint_id: string;
  base_seq: number | null;
  splice_prefix: number | null;
  splice_suffix: number | null;
  state: Buffer | Uint8Array;
  encoding: number;
  doc_bytes: number | null;
  doc_crc32: number | null;
  row_token: Buffer | Uint8Array | null;
  text_root_seq: number | null;
  target_seq: number;
}

export interface HistoryRow {
  seq: number;
  base_seq: number | null;
  snapshot_seq: number | null;
  text_root_seq: number | null;
}

export interface InfoRow {
  thread_id: string;
  checkpoint_id: string;
  parent_checkpoint_id: string | null;
  created_at: StoredTime;
  metadata: StoredJson;
}

export interface NewestRow extends Omit<InfoRow, "thread_id"> {
  seq: number;
  expires_at: StoredTime | null;
}

export interface SummaryRow {
  thread_id: string;
  checkpoint_id: string;
  updated_at: StoredTime;
  metadata: StoredJson;
}

/** A row of a thread's latest text run that may hold a query's words (the engine checks and scores it). */
export interface SearchRow {
  thread_id: string;
  checkpoint_id: string;
  updated_at: StoredTime;
  seq: number;
  search_text: string;
}

type ThreadId = { threadId: string };
type Checkpoint = { threadId: string; checkpointId: string };
type Now = { now: Date };
type Page = { limit: number };
/** Thread ids that start with a prefix: `prefix` ≤ id < `prefixEnd` (see `prefixEnd`); "" and null for every thread. */
type Range = { prefix: string; prefixEnd: string | null };
type Listing = Now & Page & Range;
type Cursor = Listing & { cursorAt: StoredTime; cursor: string };

/** A checkpoint row as a save writes it. */
export type CheckpointParams = {
  threadId: string;
  seq: number;
  checkpointId: string;
  parentCheckpointId: string | null;
  createdAt: Date;
  expiresAt: Date | null;
  metadata: string;
  state: Buffer;
  encoding: number;
  baseSeq: number | null;
  snapshotSeq: number | null;
  splicePrefix: number | null;
  spliceSuffix: number | null;
  docBytes: number;
  docCrc32: number;
  rowToken: Buffer;
  searchText: string;
  textRootSeq: number | null;
};

/** The thread row: its latest checkpoint's header. */
export type ThreadParams = {
  threadId: string;
  nextSeq: number;
  latestSeq: number;
  latestCheckpointId: string;
  parentCheckpointId: string | null;
  updatedAt: Date;
  expiresAt: Date | null;
  metadata: string;
  /** JSON array of the hashes of the metadata's top-level pairs (queryByMetadata's index). */
  metadataIndex: string;
};

export interface CheckpointStatements {
  // Writes, in a transaction.
  /** Locks the thread row (FOR UPDATE on MySQL). */
  lockThread: Statement<Checkpoint, LockRow>;
  /**
   * A save's lock: as lockThread, but a thread that has no row yet may get a placeholder row
   * (`latest_seq` 0) that the save overwrites, or its rollback removes. (Locking a row that does
   * not exist takes gap locks on MySQL, on which concurrent first saves deadlock.)
   */
  claimThread: Statement<Checkpoint & Now, LockRow>;
  /** Locks the thread row for reading (FOR SHARE), if it is visible. */
  lockThreadShared: Statement<ThreadId & Now, { latest_seq: number; next_seq: number }>;
  insertCheckpoint: Statement<CheckpointParams>;
  /** Inserts or replaces the thread row. */
  saveThread: Statement<ThreadParams>;
  /** The thread's history as removals need it, oldest first, locked. */
  history: Statement<ThreadId, HistoryRow>;
  /** A row stored whole, and the later rows whose chains started before it reading from it on (`oldRoot`: its chain's first row). */
  storeWhole: Statement<ThreadId & { seq: number; state: Buffer; encoding: number; oldRoot: number | null }>;
  indexWhole: Statement<ThreadId & { seq: number; searchText: string }>;
  moveTextRoot: Statement<ThreadId & { from: number; to: number; after: number; upTo: number }>;
  deleteRange: Statement<ThreadId & { first: number; last: number }>;
  newestCheckpoint: Statement<ThreadId, NewestRow>;
  deleteThread: Statement<ThreadId>;
  /** The thread row and the checkpoints up to `lastSeq` of `sourceThreadId`, as `threadId`. */
  copyThread: Statement<ThreadId & { sourceThreadId: string; lastSeq: number }>;
  lockDeadThread: Statement<ThreadId & Now & { cutoff: Date }, { thread_id: string }>;
  deadSeqs: Statement<ThreadId & Now & { cutoff: Date; upTo: number }, { seq: number }>;

  // Reads.
  loadLatest: Statement<ThreadId & Now, ChainRow>;
  loadById: Statement<Checkpoint & Now, ChainRow>;
  /** A checkpoint's chain, expired or not (a retried save, a removal's mending). */
  loadBySeq: Statement<ThreadId & { seq: number }, ChainRow>;
  /** The rows of a checkpoint's text run, oldest first. */
  textRun: Statement<ThreadId & { seq: number }, { search_text: string }>;
  checkpointSeq: Statement<Checkpoint, { seq: number; parent_checkpoint_id: string | null; metadata: StoredJson }>;
  listCheckpoints: Statement<ThreadId & Now & Page, { checkpoint_id: string }>;
  threadExists: Statement<ThreadId & Now, { found: number }>;
  checkpointExists: Statement<Checkpoint & Now, { found: number }>;
  infoLatest: Statement<ThreadId & Now, InfoRow>;
  infoById: Statement<Checkpoint & Now, InfoRow>;
  cursorPosition: Statement<{ cursor: string }, { updated_at: StoredTime }>;
  listThreads: Statement<Listing, SummaryRow>;
  listThreadsAfter: Statement<Cursor, SummaryRow>;
  queryByMetadata: Statement<Now & Page & { pairHash: string }, SummaryRow>;
  /**
   * Search over every thread, through the full-text index: `query` is what `SqlDialect.searchQuery`
   * made of the words; at most `limit` rows of the most recently updated threads.
   */
  search: Statement<Now & Page & { query: string }, SearchRow>;
  /**
   * Search within the threads whose ids start with a prefix (a tenant): the `candidates` most
   * recently updated of them, found by primary-key range (`prefix` ≤ id < `prefixEnd`; no end when
   * null), their latest text runs matched against `words` (the words joined by `|`). Neither what
   * it finds nor what it costs depends on threads outside the range.
   */
  searchWithin: Statement<Now & Range & { words: string; candidates: number; limit: number }, SearchRow>;
  deadThreads: Statement<Now & { cutoff: Date; batch: number }, { thread_id: string }>;
  deadCheckpoints: Statement<Now & { cutoff: Date; keepLast: number; batch: number }, { thread_id: string; seq: number }>;
}

/** The checkpoint table's columns, in the order of `insertCheckpoint`'s values and of copies. */
export const CHECKPOINT_COLUMNS =
  "thread_id, seq, checkpoint_id, parent_checkpoint_id, created_at, expires_at, metadata, state, encoding, base_seq, snapshot_seq, splice_prefix, splice_suffix, doc_bytes, doc_crc32, row_token, search_text, text_root_seq";
export const THREAD_COLUMNS = "thread_id, next_seq, latest_seq, latest_checkpoint_id, parent_checkpoint_id, updated_at, expires_at, metadata, metadata_index";
/** What a load reads: the rows `c` from the chain's first row to the checkpoint `x`, one primary-key range. */
export const CHAIN_COLUMNS = "c.seq, c.checkpoint_id, c.base_seq, c.splice_prefix, c.splice_suffix, c.state, c.encoding, c.doc_bytes, c.doc_crc32, c.row_token, c.text_root_seq, x.seq AS target_seq";
/** A delta without the hint (none should lack it) reads from the thread's first row: slower, never wrong. */
export const CHAIN_RANGE =
  "c.thread_id = x.thread_id AND c.seq BETWEEN COALESCE(x.snapshot_seq, CASE WHEN x.base_seq IS NULL THEN x.seq ELSE 0 END) AND x.seq";
/** Only rows not expired at `:now` are visible. */
export const VISIBLE = (alias: string) => `(${alias}.expires_at IS NULL OR ${alias}.expires_at > :now)`;
export const NEWEST_FIRST = "ORDER BY t.updated_at DESC, t.thread_id DESC";
/**
 * Thread `t`'s id starts with `:prefix`, as a primary-key range: binary comparisons, so `%`, `_`,
 * NUL and characters a collation ignores (a zero-width space) are ordinary.
 */
export const IN_RANGE = "t.thread_id >= :prefix AND (:prefixEnd IS NULL OR t.thread_id < :prefixEnd)";

/** A database's SQL for the engine: its statements and how it phrases a full-text query. */
export interface SqlDialect {
  /** The database, as the diagnostics channels name it (`db.system.name`). */
  name: "mysql" | "sqlite";
  statements: CheckpointStatements;
  /** The full-text query for these words (lower-case letters, digits and `_`), in the database's own syntax. */
  searchQuery(terms: readonly string[]): string;
}
