import { SqlBackend } from "../sql-backend.js";
import type { MySQLConfig } from "./config.js";
import { MySQLDatabase } from "./database.js";
import { TurnLog } from "../turn-log.js";
import type { TableNames } from "./schema.js";
import { mysqlDialect, mysqlTurnStatements } from "./sql.js";

export { metadataPairHash } from "../sql-backend.js";

export interface MySQLBackendOptions {
  /** The clock, in epoch milliseconds (tests step it back and forth). */
  now?: (() => number) | undefined;
}

/**
 * The MySQL storage layer: the storage engine (sql-backend.ts) on MySQL's SQL. The pool, the
 * migrations and transactions belong to its `MySQLDatabase`, which the LangGraph saver can
 * share. Wrap it with `mysqlCheckpointer()` to get a `Checkpointer<S>`.
 */
export class MySQLBackend extends SqlBackend {
  readonly database: MySQLDatabase;
  /** Turns and their events, in the same database (the app's resumable streams). */
  readonly turnLog: TurnLog;

  constructor(config: MySQLConfig | MySQLDatabase, options: MySQLBackendOptions = {}) {
    const database = config instanceof MySQLDatabase ? config : new MySQLDatabase(config);
    super(database, mysqlDialect(database.tables), { now: options.now, ttlSeconds: database.config.ttlSeconds, persistent: true });
    this.database = database;
    this.turnLog = new TurnLog(database, mysqlTurnStatements(database.tables), "mysql");
  }

  get config(): MySQLConfig {
    return this.database.config;
  }

  get tables(): TableNames {
    return this.database.tables;
  }

  /** Creates or migrates the tables now rather than on first use (see `MySQLDatabase.ensureSchema`). */
  ensureSchema(): Promise<void> {
    return this.database.ensureSchema();
  }

  /** The SQL that creates this backend's tables, for a DBA to run when the app's user may not. */
  schemaSql(): string {
    return this.database.schemaSql();
  }
}
