import { DEFAULT_TABLE_PREFIX } from "./config.js";
import { sql, type Statement } from "../statement.js";

/** Every table the module owns, for one table prefix. */
export interface TableNames {
  migrations: string;
  threads: string;
  checkpoints: string;
  /** LangGraph.js saver (checkpointer/langgraph/): checkpoints, channel values, pending writes. */
  lgCheckpoints: string;
  lgBlobs: string;
  lgWrites: string;
  /** The turn log (turn-log.ts): turns, their events, idempotency keys. */
  turns: string;
  turnEvents: string;
  turnKeys: string;
}

export function tableNames(prefix: string): TableNames {
  return {
    migrations: `${prefix}schema_migrations`,
    threads: `${prefix}threads`,
    checkpoints: `${prefix}checkpoints`,
    lgCheckpoints: `${prefix}lg_checkpoints`,
    lgBlobs: `${prefix}lg_blobs`,
    lgWrites: `${prefix}lg_writes`,
    turns: `${prefix}turns`,
    turnEvents: `${prefix}turn_events`,
    turnKeys: `${prefix}turn_keys`,
  };
}

export interface Migration {
  name: string;
  /**
   * Idempotent statements: DDL commits on its own in MySQL, so a half-run step must be safe to
   * re-run. (`ADD COLUMN` has no IF NOT EXISTS: the migration runner takes "duplicate column" as done.)
   */
  statements(t: TableNames): string[];
}

// Ids compare byte for byte: utf8mb4_0900_bin is binary and NO PAD (utf8mb4_bin would make
// "a" and "a " the same key). 255 characters = 1020 bytes, inside InnoDB's 3072-byte key limit.
const ID = "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin";
/** UUIDs and hex digests. */
const TOKEN = "VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin";

/**
 * Longest values (in characters) of the LangGraph tables' key columns. Each primary key stays
 * within InnoDB's 3072 bytes at 4 bytes a character: checkpoints 255+255+64, blobs
 * 255+255+192+64 (3064 bytes), writes 255+255+64+128 plus idx. LangGraph's ids are 36-character
 * UUIDs; the saver checks these limits before it writes.
 */
export const LANGGRAPH_KEY_LENGTHS = {
  threadId: 255,
  checkpointNs: 255,
  checkpointId: 64,
  taskId: 128,
  channel: 192,
  version: 64,
} as const;

const lgKey = (length: number) => `VARCHAR(${length}) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin`;

/**
 * The ordered migrations; a migration's version is its position + 1. Append, never edit:
 * databases record which versions ran in the migrations table.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    name: "checkpointer threads and checkpoints",
    statements: (t) => [
      // One row per thread: a copy of its latest checkpoint's header, so listings and
      // metadata queries never touch the (large) checkpoint rows.
      `CREATE TABLE IF NOT EXISTS \`${t.threads}\` (
  thread_id ${ID} NOT NULL,
  next_seq BIGINT UNSIGNED NOT NULL,
  latest_seq BIGINT UNSIGNED NOT NULL,
  latest_checkpoint_id ${ID} NOT NULL,
  parent_checkpoint_id ${ID} NULL,
  updated_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NULL,
  metadata JSON NOT NULL,
  metadata_index JSON NOT NULL COMMENT 'hashes of top-level key/value pairs, for the multi-valued index',
  PRIMARY KEY (thread_id),
  KEY updated (updated_at, thread_id, expires_at) COMMENT 'covers listings: newest first, no row reads',
  KEY expires (expires_at),
  KEY metadata_kv ((CAST(metadata_index AS CHAR(32) ARRAY)))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin`,
      // Every save is a row; seq orders a thread's history and is never reused.
      `CREATE TABLE IF NOT EXISTS \`${t.checkpoints}\` (
  thread_id ${ID} NOT NULL,
  seq BIGINT UNSIGNED NOT NULL,
  checkpoint_id ${ID} NOT NULL,
  parent_checkpoint_id ${ID} NULL,
  created_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NULL,
  metadata JSON NOT NULL,
  state LONGBLOB NOT NULL,
  search_text LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci NOT NULL,
  PRIMARY KEY (thread_id, seq),
  UNIQUE KEY checkpoint_id (thread_id, checkpoint_id),
  KEY created (created_at),
  KEY expires (expires_at),
  FULLTEXT KEY search (search_text)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin`,
    ],
  },
  {
    name: "langgraph checkpoints, channel values and writes",
    statements: (t) => [
      // The checkpoint without its channel values, in the serializer's bytes; metadata as JSON for list filters.
      `CREATE TABLE IF NOT EXISTS \`${t.lgCheckpoints}\` (
  thread_id ${ID} NOT NULL,
  checkpoint_ns ${lgKey(LANGGRAPH_KEY_LENGTHS.checkpointNs)} NOT NULL DEFAULT '',
  checkpoint_id ${lgKey(LANGGRAPH_KEY_LENGTHS.checkpointId)} NOT NULL,
  parent_checkpoint_id ${lgKey(LANGGRAPH_KEY_LENGTHS.checkpointId)} NULL,
  type VARCHAR(64) NOT NULL,
  checkpoint LONGBLOB NOT NULL,
  metadata JSON NOT NULL,
  PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin`,
      // One row per channel and version, written when the value changed; checkpoints name the versions they use.
      `CREATE TABLE IF NOT EXISTS \`${t.lgBlobs}\` (
  thread_id ${ID} NOT NULL,
  checkpoint_ns ${lgKey(LANGGRAPH_KEY_LENGTHS.checkpointNs)} NOT NULL DEFAULT '',
  channel ${lgKey(LANGGRAPH_KEY_LENGTHS.channel)} NOT NULL,
  version ${lgKey(LANGGRAPH_KEY_LENGTHS.version)} NOT NULL,
  type VARCHAR(64) NOT NULL,
  data LONGBLOB NOT NULL,
  PRIMARY KEY (thread_id, checkpoint_ns, channel, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin`,
      // Pending writes of a checkpoint's tasks; task_path is the first part of their sort key.
      `CREATE TABLE IF NOT EXISTS \`${t.lgWrites}\` (
  thread_id ${ID} NOT NULL,
  checkpoint_ns ${lgKey(LANGGRAPH_KEY_LENGTHS.checkpointNs)} NOT NULL DEFAULT '',
  checkpoint_id ${lgKey(LANGGRAPH_KEY_LENGTHS.checkpointId)} NOT NULL,
  task_id ${lgKey(LANGGRAPH_KEY_LENGTHS.taskId)} NOT NULL,
  idx INT NOT NULL,
  channel ${lgKey(LANGGRAPH_KEY_LENGTHS.channel)} NOT NULL,
  type VARCHAR(64) NOT NULL,
  data LONGBLOB NOT NULL,
  task_path TEXT NOT NULL,
  PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin`,
    ],
  },
  {
    name: "delta checkpoints",
    // Columns added at the end: instant on MySQL 8.0.12 and later, no table copy, so a live v2
    // database takes it without downtime. Its rows stay snapshots (snapshot_seq NULL).
    statements: (t) => [
      `ALTER TABLE \`${t.checkpoints}\`
  ADD COLUMN snapshot_seq BIGINT UNSIGNED NULL COMMENT 'NULL: state is the whole document; else state is a splice of the previous row, in a chain starting at this seq',
  ADD COLUMN splice_prefix BIGINT UNSIGNED NULL COMMENT 'bytes kept from the start of the previous row''s document',
  ADD COLUMN splice_suffix BIGINT UNSIGNED NULL COMMENT 'bytes kept from its end',
  ADD COLUMN row_token BINARY(16) NULL COMMENT 'random per written row: a delta names the exact row it was computed from',
  ADD COLUMN text_root_seq BIGINT UNSIGNED NULL COMMENT 'NULL: search_text is the whole text; else only the lines added to the previous row''s, in a run starting at this seq'`,
    ],
  },
  {
    name: "langgraph channel value deltas",
    // As v3, columns at the end (instant): a v3 database's rows stay whole values.
    statements: (t) => [
      `ALTER TABLE \`${t.lgBlobs}\`
  ADD COLUMN base_version ${lgKey(LANGGRAPH_KEY_LENGTHS.version)} NULL COMMENT 'NULL: data is the whole value; else a splice of this version''s value of the channel',
  ADD COLUMN splice_prefix BIGINT UNSIGNED NULL COMMENT 'bytes kept from the start of the base value',
  ADD COLUMN splice_suffix BIGINT UNSIGNED NULL COMMENT 'bytes kept from its end',
  ADD COLUMN row_token BINARY(16) NULL COMMENT 'random per written row: a delta names the exact row it was computed from'`,
    ],
  },
  {
    name: "named bases, checked and compressed documents",
    // Columns at the end again (instant). A v3/v4 delta's base was the row before it: the UPDATE
    // names it, touching only those rows, and can be run again. snapshot_seq keeps its meaning
    // (the first row of the chain): where a load starts reading; base_seq is what it follows.
    statements: (t) => [
      `ALTER TABLE \`${t.checkpoints}\`
  ADD COLUMN base_seq BIGINT UNSIGNED NULL COMMENT 'NULL: state is the whole document; else a splice of this row''s document',
  ADD COLUMN doc_bytes BIGINT UNSIGNED NULL COMMENT 'length of the document the row rebuilds (NULL: written before v5)',
  ADD COLUMN doc_crc32 INT UNSIGNED NULL COMMENT 'CRC-32 of that document',
  ADD COLUMN encoding TINYINT UNSIGNED NOT NULL DEFAULT 0 COMMENT '0: state as is; 1: raw DEFLATE'`,
      `UPDATE \`${t.checkpoints}\` c JOIN (
  SELECT thread_id, seq, LAG(seq) OVER (PARTITION BY thread_id ORDER BY seq) AS previous FROM \`${t.checkpoints}\`
) p ON p.thread_id = c.thread_id AND p.seq = c.seq
SET c.base_seq = p.previous WHERE c.snapshot_seq IS NOT NULL AND c.base_seq IS NULL`,
      `ALTER TABLE \`${t.lgBlobs}\`
  ADD COLUMN doc_bytes BIGINT UNSIGNED NULL COMMENT 'length of the value the row rebuilds (NULL: written before v5)',
  ADD COLUMN doc_crc32 INT UNSIGNED NULL COMMENT 'CRC-32 of that value',
  ADD COLUMN encoding TINYINT UNSIGNED NOT NULL DEFAULT 0 COMMENT '0: data as is; 1: raw DEFLATE'`,
    ],
  },
  {
    name: "turn log: turns, their events, idempotency keys",
    // Times are epoch milliseconds of the server's clock (turn-log.ts compares them there).
    statements: (t) => [
      `CREATE TABLE IF NOT EXISTS \`${t.turns}\` (
  turn_id ${TOKEN} NOT NULL,
  thread_id ${ID} NOT NULL,
  status VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL COMMENT 'running, done or failed',
  last_id INT UNSIGNED NOT NULL COMMENT 'the id of the last stored event',
  reserved_id INT UNSIGNED NOT NULL COMMENT 'ids up to this may have reached clients before being stored',
  lease_until BIGINT NOT NULL COMMENT 'the producer renews it while it runs',
  cancel_requested TINYINT UNSIGNED NOT NULL DEFAULT 0,
  outcome MEDIUMTEXT NULL COMMENT 'the final event, as JSON',
  created_at BIGINT NOT NULL,
  ended_at BIGINT NULL,
  PRIMARY KEY (turn_id),
  KEY turns_open (status, lease_until),
  KEY turns_ended (ended_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin`,
      `CREATE TABLE IF NOT EXISTS \`${t.turnEvents}\` (
  turn_id ${TOKEN} NOT NULL,
  first_id INT UNSIGNED NOT NULL,
  last_id INT UNSIGNED NOT NULL,
  events MEDIUMTEXT NOT NULL COMMENT 'a batch of events, as a JSON array',
  PRIMARY KEY (turn_id, first_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin`,
      `CREATE TABLE IF NOT EXISTS \`${t.turnKeys}\` (
  key_hash ${TOKEN} NOT NULL COMMENT 'SHA-256 of the tenant and the client''s key',
  fingerprint ${TOKEN} NOT NULL COMMENT 'SHA-256 of the request the key was first used with',
  turn_id ${TOKEN} NOT NULL COMMENT 'the key''s latest turn',
  checkpoint_id ${TOKEN} NOT NULL COMMENT 'the id every turn of the key saves under',
  created_at BIGINT NOT NULL,
  PRIMARY KEY (key_hash),
  KEY turn_keys_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin`,
    ],
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrationsTableSql(t: TableNames): string {
  return `CREATE TABLE IF NOT EXISTS \`${t.migrations}\` (
  version INT UNSIGNED NOT NULL,
  name VARCHAR(200) NOT NULL,
  applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin`;
}

/** The newest migration recorded: one row, `version` NULL when none ran. */
export function schemaVersionSql(t: TableNames): Statement<Record<string, never>, { version: number | null }> {
  return sql(`SELECT MAX(version) AS version FROM \`${t.migrations}\``);
}

export function recordMigrationSql(t: TableNames): Statement<{ version: number; name: string }> {
  return sql(`INSERT IGNORE INTO \`${t.migrations}\` (version, name) VALUES (:version, :name)`);
}

/**
 * The whole schema as one SQL script, for DBAs and for the MySQL image's
 * /docker-entrypoint-initdb.d (the template's mysql-init/ holds it). Same statements the module runs itself.
 */
export function renderSchemaSql(prefix: string = DEFAULT_TABLE_PREFIX): string {
  const t = tableNames(prefix);
  const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;
  const parts = [
    "-- Checkpointer schema. Generated from checkpointer/mysql/schema.ts: do not edit;",
    "-- regenerate with `npm run schema:generate`. Valid on MySQL 8.0.19 and later.",
    "",
    `${migrationsTableSql(t)};`,
  ];
  MIGRATIONS.forEach((migration, i) => {
    parts.push("", `-- v${i + 1}: ${migration.name}`);
    for (const statement of migration.statements(t)) parts.push(`${statement};`);
    parts.push(`${recordMigrationSql(t).texts[0]!.replace("(:version, :name)", `(${i + 1}, ${quote(migration.name)})`)};`);
  });
  return `${parts.join("\n")}\n`;
}
