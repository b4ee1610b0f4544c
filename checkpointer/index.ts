// The public API of the checkpointer module. Copy this folder into an app; it needs `mysql2` and
// Node 22.13 or later (`node:sqlite`) only
// (langgraph/, which this file does not import, also needs @langchain/*). Its package.json makes
// the folder ES modules, whatever the app's own package.json says.
export type {
  Checkpointer,
  CheckpointerCapabilities,
  CheckpointInfo,
  CheckpointWrite,
  JsonValue,
  ListThreadsOptions,
  Metadata,
  SaveOptions,
  SearchHit,
  Serializer,
  StorageBackend,
  ThreadSummary,
  VacuumOptions,
} from "./types.js";
export { CheckpointerError, isCheckpointerError, type CheckpointerErrorCode } from "./errors.js";
export { BackendCheckpointer, type CheckpointerOptions } from "./backend-checkpointer.js";
export { MemoryCheckpointer, SQLiteBackend, SQLiteCheckpointer, type SQLiteCheckpointerOptions } from "./sqlite/checkpointer.js";
// The contract's name for the embedded single-machine store, which is now SQLite in one file.
export { SQLiteCheckpointer as FileCheckpointer } from "./sqlite/checkpointer.js";
export { SqlBackend, type SqlBackendOptions } from "./sql-backend.js";
export { TurnLog, INTERRUPTED_MESSAGE, RESERVED_IDS, type TurnClaim, type TurnEvent, type TurnRecord, type TurnStatus } from "./turn-log.js";
export { jsonSerializer } from "./serialization.js";
export { MAX_ID_CHARS } from "./validation.js";
export { defaultSearchText } from "./search-text.js";
export { MySQLConfig, DEFAULT_TABLE_PREFIX, type MySQLConfigFields, type SslMode } from "./mysql/config.js";
export { MySQLBackend, type MySQLBackendOptions } from "./mysql/backend.js";
export { MySQLDatabase } from "./mysql/database.js";
export { mysqlCheckpointer, type MySQLCheckpointer } from "./mysql/checkpointer.js";
export { renderSchemaSql, SCHEMA_VERSION } from "./mysql/schema.js";
export {
  getCheckpointer,
  registerCheckpointer,
  listCheckpointers,
  type CheckpointerFactory,
  type CheckpointerSpecOptions,
} from "./registry.js";
export {
  CHECKPOINTER_OPERATIONS,
  checkpointerChannel,
  type CheckpointerOperation,
  type CheckpointerOperationMessage,
} from "./diagnostics.js";
