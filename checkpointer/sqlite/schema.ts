/**
 * The SQLite store's tables: the same design as MySQL's (mysql/schema.ts), in SQLite's types.
 * Times are epoch milliseconds, metadata JSON text. SQLite has no multi-valued index, so the
 * metadata pairs `queryByMetadata` looks up get a table of their own, and full-text search is an
 * FTS5 index keyed by the checkpoint rows' rowid, holding no copy of the text.
 * `PRAGMA user_version` records the version; append to the list, never edit.
 */
export const SQLITE_MIGRATIONS: readonly string[][] = [
  [
    `CREATE TABLE IF NOT EXISTS threads (
  thread_id TEXT NOT NULL PRIMARY KEY,
  next_seq INTEGER NOT NULL,
  latest_seq INTEGER NOT NULL,
  latest_checkpoint_id TEXT NOT NULL,
  parent_checkpoint_id TEXT,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER,
  metadata TEXT NOT NULL,
  metadata_index TEXT NOT NULL
) WITHOUT ROWID`,
    "CREATE INDEX IF NOT EXISTS threads_updated ON threads (updated_at, thread_id)",
    "CREATE INDEX IF NOT EXISTS threads_expires ON threads (expires_at)",
    `CREATE TABLE IF NOT EXISTS thread_metadata (
  pair_hash TEXT NOT NULL,
  thread_id TEXT NOT NULL,
  PRIMARY KEY (pair_hash, thread_id)
) WITHOUT ROWID`,
    `CREATE TABLE IF NOT EXISTS checkpoints (
  id INTEGER PRIMARY KEY,
  thread_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  checkpoint_id TEXT NOT NULL,
  parent_checkpoint_id TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  metadata TEXT NOT NULL,
  state BLOB NOT NULL,
  encoding INTEGER NOT NULL,
  base_seq INTEGER,
  snapshot_seq INTEGER,
  splice_prefix INTEGER,
  splice_suffix INTEGER,
  doc_bytes INTEGER,
  doc_crc32 INTEGER,
  row_token BLOB,
  search_text TEXT NOT NULL,
  text_root_seq INTEGER,
  UNIQUE (thread_id, seq),
  UNIQUE (thread_id, checkpoint_id)
)`,
    "CREATE INDEX IF NOT EXISTS checkpoints_created ON checkpoints (created_at)",
    "CREATE INDEX IF NOT EXISTS checkpoints_expires ON checkpoints (expires_at)",
    `CREATE VIRTUAL TABLE IF NOT EXISTS checkpoints_fts USING fts5 (
  search_text, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
)`,
  ],
  [
    `CREATE TABLE IF NOT EXISTS turns (
  turn_id TEXT NOT NULL PRIMARY KEY,
  thread_id TEXT NOT NULL,
  status TEXT NOT NULL,
  last_id INTEGER NOT NULL,
  reserved_id INTEGER NOT NULL,
  lease_until INTEGER NOT NULL,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  outcome TEXT,
  created_at INTEGER NOT NULL,
  ended_at INTEGER
) WITHOUT ROWID`,
    "CREATE INDEX IF NOT EXISTS turns_open ON turns (status, lease_until)",
    "CREATE INDEX IF NOT EXISTS turns_ended ON turns (ended_at)",
    `CREATE TABLE IF NOT EXISTS turn_events (
  turn_id TEXT NOT NULL,
  first_id INTEGER NOT NULL,
  last_id INTEGER NOT NULL,
  events TEXT NOT NULL,
  PRIMARY KEY (turn_id, first_id)
) WITHOUT ROWID`,
    `CREATE TABLE IF NOT EXISTS turn_keys (
  key_hash TEXT NOT NULL PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  turn_id TEXT NOT NULL,
  checkpoint_id TEXT NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID`,
    "CREATE INDEX IF NOT EXISTS turn_keys_created ON turn_keys (created_at)",
  ],
];
