-- Checkpointer schema. Generated from checkpointer/mysql/schema.ts: do not edit;
-- regenerate with `npm run schema:generate`. Valid on MySQL 8.0.19 and later.

CREATE TABLE IF NOT EXISTS `cp_schema_migrations` (
  version INT UNSIGNED NOT NULL,
  name VARCHAR(200) NOT NULL,
  applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin;

-- v1: checkpointer threads and checkpoints
CREATE TABLE IF NOT EXISTS `cp_threads` (
  thread_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
  next_seq BIGINT UNSIGNED NOT NULL,
  latest_seq BIGINT UNSIGNED NOT NULL,
  latest_checkpoint_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
  parent_checkpoint_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NULL,
  updated_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NULL,
  metadata JSON NOT NULL,
  metadata_index JSON NOT NULL COMMENT 'hashes of top-level key/value pairs, for the multi-valued index',
  PRIMARY KEY (thread_id),
  KEY updated (updated_at, thread_id, expires_at) COMMENT 'covers listings: newest first, no row reads',
  KEY expires (expires_at),
  KEY metadata_kv ((CAST(metadata_index AS CHAR(32) ARRAY)))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin;
CREATE TABLE IF NOT EXISTS `cp_checkpoints` (
  thread_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
  seq BIGINT UNSIGNED NOT NULL,
  checkpoint_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
  parent_checkpoint_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NULL,
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
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin;
INSERT IGNORE INTO `cp_schema_migrations` (version, name) VALUES (1, 'checkpointer threads and checkpoints');

-- v2: langgraph checkpoints, channel values and writes
CREATE TABLE IF NOT EXISTS `cp_lg_checkpoints` (
  thread_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
  checkpoint_ns VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL DEFAULT '',
  checkpoint_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
  parent_checkpoint_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NULL,
  type VARCHAR(64) NOT NULL,
  checkpoint LONGBLOB NOT NULL,
  metadata JSON NOT NULL,
  PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin;
CREATE TABLE IF NOT EXISTS `cp_lg_blobs` (
  thread_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
  checkpoint_ns VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL DEFAULT '',
  channel VARCHAR(192) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
  version VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
  type VARCHAR(64) NOT NULL,
  data LONGBLOB NOT NULL,
  PRIMARY KEY (thread_id, checkpoint_ns, channel, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin;
CREATE TABLE IF NOT EXISTS `cp_lg_writes` (
  thread_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
  checkpoint_ns VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL DEFAULT '',
  checkpoint_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
  task_id VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
  idx INT NOT NULL,
  channel VARCHAR(192) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
  type VARCHAR(64) NOT NULL,
  data LONGBLOB NOT NULL,
  task_path TEXT NOT NULL,
  PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin;
INSERT IGNORE INTO `cp_schema_migrations` (version, name) VALUES (2, 'langgraph checkpoints, channel values and writes');

-- v3: delta checkpoints
ALTER TABLE `cp_checkpoints`
  ADD COLUMN snapshot_seq BIGINT UNSIGNED NULL COMMENT 'NULL: state is the whole document; else state is a splice of the previous row, in a chain starting at this seq',
  ADD COLUMN splice_prefix BIGINT UNSIGNED NULL COMMENT 'bytes kept from the start of the previous row''s document',
  ADD COLUMN splice_suffix BIGINT UNSIGNED NULL COMMENT 'bytes kept from its end',
  ADD COLUMN row_token BINARY(16) NULL COMMENT 'random per written row: a delta names the exact row it was computed from',
  ADD COLUMN text_root_seq BIGINT UNSIGNED NULL COMMENT 'NULL: search_text is the whole text; else only the lines added to the previous row''s, in a run starting at this seq';
INSERT IGNORE INTO `cp_schema_migrations` (version, name) VALUES (3, 'delta checkpoints');

-- v4: langgraph channel value deltas
ALTER TABLE `cp_lg_blobs`
  ADD COLUMN base_version VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NULL COMMENT 'NULL: data is the whole value; else a splice of this version''s value of the channel',
  ADD COLUMN splice_prefix BIGINT UNSIGNED NULL COMMENT 'bytes kept from the start of the base value',
  ADD COLUMN splice_suffix BIGINT UNSIGNED NULL COMMENT 'bytes kept from its end',
  ADD COLUMN row_token BINARY(16) NULL COMMENT 'random per written row: a delta names the exact row it was computed from';
INSERT IGNORE INTO `cp_schema_migrations` (version, name) VALUES (4, 'langgraph channel value deltas');

-- v5: named bases, checked and compressed documents
ALTER TABLE `cp_checkpoints`
  ADD COLUMN base_seq BIGINT UNSIGNED NULL COMMENT 'NULL: state is the whole document; else a splice of this row''s document',
  ADD COLUMN doc_bytes BIGINT UNSIGNED NULL COMMENT 'length of the document the row rebuilds (NULL: written before v5)',
  ADD COLUMN doc_crc32 INT UNSIGNED NULL COMMENT 'CRC-32 of that document',
  ADD COLUMN encoding TINYINT UNSIGNED NOT NULL DEFAULT 0 COMMENT '0: state as is; 1: raw DEFLATE';
UPDATE `cp_checkpoints` c JOIN (
  SELECT thread_id, seq, LAG(seq) OVER (PARTITION BY thread_id ORDER BY seq) AS previous FROM `cp_checkpoints`
) p ON p.thread_id = c.thread_id AND p.seq = c.seq
SET c.base_seq = p.previous WHERE c.snapshot_seq IS NOT NULL AND c.base_seq IS NULL;
ALTER TABLE `cp_lg_blobs`
  ADD COLUMN doc_bytes BIGINT UNSIGNED NULL COMMENT 'length of the value the row rebuilds (NULL: written before v5)',
  ADD COLUMN doc_crc32 INT UNSIGNED NULL COMMENT 'CRC-32 of that value',
  ADD COLUMN encoding TINYINT UNSIGNED NOT NULL DEFAULT 0 COMMENT '0: data as is; 1: raw DEFLATE';
INSERT IGNORE INTO `cp_schema_migrations` (version, name) VALUES (5, 'named bases, checked and compressed documents');

-- v6: turn log: turns, their events, idempotency keys
CREATE TABLE IF NOT EXISTS `cp_turns` (
  turn_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  thread_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
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
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin;
CREATE TABLE IF NOT EXISTS `cp_turn_events` (
  turn_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  first_id INT UNSIGNED NOT NULL,
  last_id INT UNSIGNED NOT NULL,
  events MEDIUMTEXT NOT NULL COMMENT 'a batch of events, as a JSON array',
  PRIMARY KEY (turn_id, first_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin;
CREATE TABLE IF NOT EXISTS `cp_turn_keys` (
  key_hash VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL COMMENT 'SHA-256 of the tenant and the client''s key',
  fingerprint VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL COMMENT 'SHA-256 of the request the key was first used with',
  turn_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL COMMENT 'the key''s latest turn',
  checkpoint_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL COMMENT 'the id every turn of the key saves under',
  created_at BIGINT NOT NULL,
  PRIMARY KEY (key_hash),
  KEY turn_keys_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin;
INSERT IGNORE INTO `cp_schema_migrations` (version, name) VALUES (6, 'turn log: turns, their events, idempotency keys');
