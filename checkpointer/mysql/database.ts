import mysql from "mysql2/promise";
import type { Pool, PoolConnection, ResultSetHeader, RowDataPacket } from "mysql2/promise";
import { CheckpointerError } from "../errors.js";
import type { MySQLConfig } from "./config.js";
import { isAccessDenied, isAlreadyApplied, isMissingTable, isReadOnly, isRetryable, toCheckpointerError } from "./errors.js";
import { bind, sql, type AnyStatement, type Param, type Params, type SqlDatabase, type SqlRunner, type Statement } from "../statement.js";
import {
  MIGRATIONS,
  SCHEMA_VERSION,
  migrationsTableSql,
  recordMigrationSql,
  renderSchemaSql,
  schemaVersionSql,
  tableNames,
  type TableNames,
} from "./schema.js";

const TRANSACTION_ATTEMPTS = 4;

/**
 * One MySQL database as the module uses it: the lazily created pool, the migrations, and
 * transactions with retry. `MySQLBackend` (the checkpointer's storage) and the LangGraph saver
 * both run on one, so they can share a pool.
 */
export class MySQLDatabase implements SqlDatabase {
  readonly config: MySQLConfig;
  readonly tables: TableNames;
  #pool: Pool | undefined;
  #ready: Promise<void> | undefined;
  #maxAllowedPacket: number | undefined;
  #closed = false;

  constructor(config: MySQLConfig) {
    this.config = config;
    this.tables = tableNames(config.tablePrefix);
  }

  /** The pool, created on first use (synchronously, so concurrent first calls share it). */
  get pool(): Pool {
    if (this.#closed) throw new CheckpointerError("UNAVAILABLE", "checkpointer is closed");
    this.#pool ??= mysql.createPool(this.config.poolOptions());
    return this.#pool;
  }

  /**
   * The pool's connections now, without creating the pool: `used` (lent to a query or
   * transaction) and `idle`; undefined before the first query and after `close()`. Read from
   * mysql2's pool, for metrics.
   */
  poolConnections(): { used: number; idle: number } | undefined {
    const core = (this.#pool as unknown as { pool?: { _allConnections?: { length: number }; _freeConnections?: { length: number } } } | undefined)?.pool;
    const all = core?._allConnections?.length;
    const free = core?._freeConnections?.length;
    return all === undefined || free === undefined ? undefined : { used: all - free, idle: free };
  }

  /** The server's `max_allowed_packet` in bytes, once `ensureSchema()` has run. */
  get statementLimit(): { bytes: number; setting: string } | undefined {
    return this.#maxAllowedPacket === undefined ? undefined : { bytes: this.#maxAllowedPacket, setting: "MySQL's max_allowed_packet" };
  }

  /**
   * Checks the schema version and creates or migrates the tables when needed. Runs once per
   * database object (concurrent callers share the run); a failed run is retried by the next call.
   * Works with DML-only rights when the tables are already there.
   */
  ensureSchema(): Promise<void> {
    this.#ready ??= this.#migrate().catch((error: unknown) => {
      this.#ready = undefined;
      throw toCheckpointerError(error);
    });
    return this.#ready;
  }

  /** The SQL that creates this database's tables, for a DBA to run when the app may not. */
  schemaSql(): string {
    return renderSchemaSql(this.config.tablePrefix);
  }

  /** One prepared statement on the pool, after `ensureSchema()`; errors as `CheckpointerError`. */
  async select<P extends Params, R>(statement: Statement<P, R>, params: P): Promise<R[]> {
    await this.ensureSchema();
    try {
      return await this.#onConnection((runner) => runner.select(statement, params));
    } catch (error) {
      throw toCheckpointerError(error, this.#maxAllowedPacket);
    }
  }

  async run<P extends Params>(statement: Statement<P, never>, params: P): Promise<number> {
    await this.ensureSchema();
    try {
      return await this.#onConnection((runner) => runner.run(statement, params));
    } catch (error) {
      throw toCheckpointerError(error, this.#maxAllowedPacket);
    }
  }

  /**
   * One statement on a connection taken from the pool for it. Taken here, not by `pool.execute`:
   * mysql2's pool starts a queued request from the callback of another request's connection, so
   * the statement would run in that request's async context (AsyncLocalStorage), and whatever
   * follows the caller by it (a trace's spans) would see the wrong caller. An await keeps the caller's.
   */
  async #onConnection<T>(work: (runner: ConnectionRunner) => Promise<T>): Promise<T> {
    const conn = await this.pool.getConnection();
    try {
      return await work(new ConnectionRunner(conn));
    } finally {
      conn.release();
    }
  }

  /**
   * Runs `work` in one transaction on one connection, after `ensureSchema()`. Deadlocks and lock
   * wait timeouts roll the whole transaction back, so it is simply run again (a few times).
   * Driver errors come out as `CheckpointerError`.
   */
  async transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T> {
    await this.ensureSchema();
    for (let attempt = 1; ; attempt++) {
      let conn: PoolConnection;
      try {
        conn = await this.pool.getConnection();
      } catch (error) {
        throw toCheckpointerError(error, this.#maxAllowedPacket);
      }
      let broken = false;
      try {
        await conn.beginTransaction();
        const result = await work(new ConnectionRunner(conn));
        await conn.commit();
        return result;
      } catch (error) {
        try {
          await conn.rollback();
        } catch {
          broken = true; // the connection is gone; the server rolled back for us
        }
        // The next connection goes through Router (or DNS) to the current primary.
        if (isReadOnly(error)) broken = true;
        if (attempt < TRANSACTION_ATTEMPTS && isRetryable(error)) continue;
        throw toCheckpointerError(error, this.#maxAllowedPacket);
      } finally {
        if (broken) conn.destroy();
        else conn.release();
      }
    }
  }

  /**
   * Drains the pool; idempotent. Later calls throw `UNAVAILABLE`. A connection attempt still
   * pending holds the drain for at most `connectTimeoutMs`; its failure is no error of close().
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.end().catch(() => undefined);
  }

  async #migrate(): Promise<void> {
    const runner = new ConnectionRunner(this.pool);
    const [settings] = await runner.select(sql<Params, { packet: number }>("SELECT @@max_allowed_packet AS packet"), {});
    this.#maxAllowedPacket = Number(settings?.packet);
    let version = 0;
    try {
      const [row] = await runner.select(schemaVersionSql(this.tables), {});
      version = Number(row?.version ?? 0);
    } catch (error) {
      if (!isMissingTable(error)) throw error;
    }
    if (version >= SCHEMA_VERSION) return;
    const missing = () =>
      new CheckpointerError(
        "SCHEMA",
        `checkpointer tables in database ${this.config.database} are missing or old (schema v${version}, need v${SCHEMA_VERSION}) ` +
          `and user ${this.config.user} cannot create them. As a user with CREATE rights, run the SQL that ` +
          `renderSchemaSql("${this.config.tablePrefix}") returns (the module's export), or call ensureSchema().`,
      );
    if (!this.config.createTables) throw missing();
    try {
      await this.pool.query(migrationsTableSql(this.tables));
      for (let v = version + 1; v <= SCHEMA_VERSION; v++) {
        const migration = MIGRATIONS[v - 1]!;
        for (const statement of migration.statements(this.tables)) {
          await this.pool.query(statement).catch((error: unknown) => {
            if (!isAlreadyApplied(error)) throw error;
          });
        }
        await runner.run(recordMigrationSql(this.tables), { version: v, name: migration.name });
      }
    } catch (error) {
      if (isAccessDenied(error)) throw missing();
      throw error;
    }
  }
}

/** Statements on a pool or on one connection, with named parameters. */
class ConnectionRunner implements SqlRunner {
  readonly #via: Pool | PoolConnection;

  constructor(via: Pool | PoolConnection) {
    this.#via = via;
  }

  async select<P extends Params, R>(statement: Statement<P, R>, params: P): Promise<R[]> {
    let rows: RowDataPacket[] = [];
    for (let i = 0; i < statement.texts.length; i++) [rows] = await this.#via.execute<RowDataPacket[]>(options(statement, i), values(statement, i, params));
    // The one place a row type meets the driver: each statement declares what its columns are.
    return rows as R[];
  }

  async run<P extends Params>(statement: Statement<P, never>, params: P): Promise<number> {
    let changed = 0;
    for (let i = 0; i < statement.texts.length; i++) {
      const [result] = await this.#via.execute<ResultSetHeader>(options(statement, i), values(statement, i, params));
      changed += result.affectedRows;
    }
    return changed;
  }
}

const options = (statement: AnyStatement, i: number) => ({ sql: statement.texts[i]!, namedPlaceholders: true });

/**
 * mysql2 binds a JS number as a DOUBLE, which MySQL 8.0.22+ refuses for LIMIT: whole numbers go
 * as decimal text, which MySQL converts wherever a number is expected.
 */
function values(statement: AnyStatement, i: number, params: Params): Record<string, string | Exclude<Param, number>> {
  const bound: Record<string, Param> = bind(statement, i, params);
  return Object.fromEntries(Object.entries(bound).map(([name, value]) => [name, typeof value === "number" && Number.isSafeInteger(value) ? String(value) : value])) as Record<string, string | Exclude<Param, number>>;
}
