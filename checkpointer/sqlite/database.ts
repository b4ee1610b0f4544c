import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { CheckpointerError } from "../errors.js";
import { bind, type AnyStatement, type Param, type Params, type SqlDatabase, type SqlRunner, type Statement } from "../statement.js";
import { containsAny } from "../search-text.js";
import { SQLITE_MIGRATIONS } from "./schema.js";

export interface SQLiteDatabaseOptions {
  /** How long a write waits for another process's write to finish, in milliseconds. */
  busyTimeoutMs?: number | undefined;
}

/**
 * One SQLite database file (or `:memory:`) as the storage engine uses it, through Node's built-in
 * `node:sqlite`. WAL lets readers run beside a writer; writes take the database's write lock at
 * BEGIN IMMEDIATE, so any number of processes on one machine can share the file and a
 * compare-and-set holds across them. The driver is synchronous: calls of this process run one at a
 * time, in order, so no statement slips into another caller's open transaction.
 */
export class SQLiteDatabase implements SqlDatabase {
  readonly path: string;
  /** SQLite's own limit (a gigabyte) is reported as TOO_LARGE when reached. */
  readonly statementLimit = undefined;
  readonly #busyTimeoutMs: number;
  #db: DatabaseSync | undefined;
  readonly #prepared = new Map<string, StatementSync>();
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(path: string, options: SQLiteDatabaseOptions = {}) {
    this.path = path;
    this.#busyTimeoutMs = options.busyTimeoutMs ?? 5_000;
  }

  select<P extends Params, R>(statement: Statement<P, R>, params: P): Promise<R[]> {
    return this.#serially(() => this.#select(statement, params));
  }

  run<P extends Params>(statement: Statement<P, never>, params: P): Promise<number> {
    return this.#serially(() => this.#run(statement, params));
  }

  transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T> {
    return this.#serially(async () => {
      const db = this.#open();
      guard(() => db.exec("BEGIN IMMEDIATE"));
      try {
        const result = await work({
          select: async (statement, params) => this.#select(statement, params),
          run: async (statement, params) => this.#run(statement, params),
        });
        guard(() => db.exec("COMMIT"));
        return result;
      } catch (error) {
        try {
          db.exec("ROLLBACK");
        } catch {
          // SQLite rolled back already (an I/O error, a full disk).
        }
        throw error;
      }
    });
  }

  /** Closes the file once calls in flight are done; idempotent. Later calls throw UNAVAILABLE. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue.catch(() => undefined);
    this.#prepared.clear();
    this.#db?.close();
    this.#db = undefined;
  }

  #serially<T>(work: () => T | Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #select<R>(statement: AnyStatement & Statement<Params, R>, params: Params): R[] {
    let rows: unknown[] = [];
    statement.texts.forEach((text, i) => {
      rows = guard(() => this.#prepare(text).all(values(statement, i, params)));
    });
    return rows as R[];
  }

  #run(statement: AnyStatement, params: Params): number {
    let changed = 0;
    statement.texts.forEach((text, i) => {
      changed += Number(guard(() => this.#prepare(text).run(values(statement, i, params))).changes);
    });
    return changed;
  }

  #prepare(text: string): StatementSync {
    let prepared = this.#prepared.get(text);
    if (!prepared) {
      prepared = guard(() => this.#open().prepare(text));
      this.#prepared.set(text, prepared);
    }
    return prepared;
  }

  /** The connection, opened (and its tables made or migrated) on first use. */
  #open(): DatabaseSync {
    if (this.#closed) throw new CheckpointerError("UNAVAILABLE", "checkpointer is closed");
    if (this.#db) return this.#db;
    const db = guard(() => {
      if (this.path !== ":memory:") mkdirSync(dirname(this.path), { recursive: true });
      return new DatabaseSync(this.path, { timeout: this.#busyTimeoutMs });
    });
    try {
      guard(() => {
        db.exec("PRAGMA journal_mode = WAL");
        // A search within a prefix matches rows of text with this (SQLite has no REGEXP).
        db.function("contains_any", { deterministic: true }, (text, words) => Number(containsAny(String(text), String(words))));
        migrate(db);
      });
    } catch (error) {
      db.close();
      throw error;
    }
    this.#db = db;
    return db;
  }
}

/** Creates or migrates the tables, under the write lock, so processes opening one file at once agree. */
function migrate(db: DatabaseSync): void {
  const version = () => Number((db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
  if (version() >= SQLITE_MIGRATIONS.length) return;
  db.exec("BEGIN IMMEDIATE");
  try {
    for (let v = version(); v < SQLITE_MIGRATIONS.length; v++) {
      for (const statement of SQLITE_MIGRATIONS[v]!) db.exec(statement);
      db.exec(`PRAGMA user_version = ${v + 1}`);
    }
    db.exec("COMMIT");
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  }
}

/** SQLite binds no Date: times are epoch milliseconds. */
function values(statement: AnyStatement, i: number, params: Params): Record<string, Exclude<Param, Date>> {
  return Object.fromEntries(Object.entries(bind(statement, i, params)).map(([name, value]) => [name, value instanceof Date ? value.getTime() : value]));
}

/** SQLite's primary result codes (the low byte of an extended code). */
const BUSY = new Set([5, 6]); // SQLITE_BUSY, SQLITE_LOCKED: another process holds the lock past the timeout
const UNAVAILABLE = new Set([3, 8, 10, 13, 14]); // PERM, READONLY, IOERR, FULL, CANTOPEN
const CORRUPT = new Set([11, 26]); // CORRUPT, NOTADB

/** Runs a driver call, its errors as `CheckpointerError` (the driver's message, never SQL or values). */
function guard<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    if (error instanceof CheckpointerError) throw error;
    const { errcode, errstr } = error as { errcode?: number; errstr?: string };
    if (typeof errcode !== "number" && (error as NodeJS.ErrnoException).code === undefined) throw error;
    const code = (errcode ?? -1) & 0xff;
    const why = errstr ?? (error as Error).message;
    if (BUSY.has(code)) throw new CheckpointerError("UNAVAILABLE", `SQLite database is busy (another process holds its write lock): ${why}`, { cause: error });
    if (UNAVAILABLE.has(code) || errcode === undefined) throw new CheckpointerError("UNAVAILABLE", `SQLite database cannot be used: ${why}`, { cause: error });
    if (CORRUPT.has(code)) throw new CheckpointerError("CORRUPT", `SQLite database file is damaged: ${why}; restore it from a backup`, { cause: error });
    if (code === 18) throw new CheckpointerError("TOO_LARGE", `checkpoint is larger than SQLite accepts: ${why}`, { cause: error });
    throw new CheckpointerError("SCHEMA", `SQLite refused a statement of the checkpointer: ${why}`, { cause: error });
  }
}
