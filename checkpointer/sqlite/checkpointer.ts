import { BackendCheckpointer, type CheckpointerOptions } from "../backend-checkpointer.js";
import { SqlBackend, type SqlBackendOptions } from "../sql-backend.js";
import { SQLiteDatabase, type SQLiteDatabaseOptions } from "./database.js";
import { TurnLog } from "../turn-log.js";
import { sqliteDialect, sqliteTurnStatements } from "./sql.js";

export type SQLiteCheckpointerOptions<S> = { path: string } & SQLiteDatabaseOptions & SqlBackendOptions & CheckpointerOptions<S>;

/** The SQLite storage layer: the storage engine (sql-backend.ts) on SQLite's SQL. */
export class SQLiteBackend extends SqlBackend {
  readonly database: SQLiteDatabase;
  /** Turns and their events, in the same database (the app's resumable streams). */
  readonly turnLog: TurnLog;

  constructor(options: { path: string } & SQLiteDatabaseOptions & SqlBackendOptions) {
    const database = new SQLiteDatabase(options.path, options);
    super(database, sqliteDialect, { ...options, persistent: options.path !== ":memory:" });
    this.database = database;
    this.turnLog = new TurnLog(database, sqliteTurnStatements(), "sqlite");
  }
}

/**
 * The embedded store: one SQLite file, through Node's built-in `node:sqlite` (Node 22.13 or
 * later), with the same tables, delta rules and removal plan as MySQL. Any number of processes on
 * one machine may share the file.
 *
 * @example
 * const cp = new SQLiteCheckpointer<AgentState>({ path: "./data/checkpoints.db" });
 */
export class SQLiteCheckpointer<S = unknown> extends BackendCheckpointer<S> {
  constructor(options: SQLiteCheckpointerOptions<S>) {
    super(new SQLiteBackend(options), options);
  }
}

/**
 * In-process checkpointer for tests and REPLs: SQLite in memory, so the whole contract and the
 * very storage design of the persistent stores, with nothing kept after the process.
 */
export class MemoryCheckpointer<S = unknown> extends SQLiteCheckpointer<S> {
  constructor(options: Omit<SQLiteCheckpointerOptions<S>, "path" | "busyTimeoutMs"> = {}) {
    super({ ...options, path: ":memory:" });
  }
}
