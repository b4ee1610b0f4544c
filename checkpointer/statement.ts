/**
 * SQL statements with named parameters (`:threadId`), typed by what they bind and what rows they
 * return, so the compiler checks every call site: a missing or misspelt parameter does not build.
 * The SQL text is fixed (a driver prepares each distinct text once); `bind` also checks at run
 * time that every name the text uses has a value, so a statement and its type cannot drift apart
 * unnoticed.
 */

/** A value bound to a parameter. */
export type Param = string | number | Date | Buffer | null;
export type Params = Record<string, Param>;

export interface Statement<P extends Params = Params, R = never> {
  /** One SQL statement, or several run in order on one connection (as one: their counts add up). */
  readonly texts: readonly string[];
  /** Names each text binds, in order of first use. */
  readonly names: readonly (readonly string[])[];
  /** Type-only: what the statement binds and returns. */
  readonly types?: { params: P; rows: R };
}

/** A name is `:` then a letter, as no SQL text here has a colon anywhere else. */
const NAME = /:([A-Za-z][A-Za-z0-9_]*)/g;

/** A statement (or a short script run as one) binding `P` and returning rows `R`. */
export function sql<P extends Params, R = never>(...texts: string[]): Statement<P, R> {
  return { texts, names: texts.map((text) => [...new Set(Array.from(text.matchAll(NAME), (m) => m[1]!))]) };
}

/** Any statement, as code that runs statements of every type takes it. */
export type AnyStatement = Statement<Params, unknown>;

/** The values text `i` of `statement` binds, by name; a name without a value is a bug, thrown as such. */
export function bind(statement: AnyStatement, i: number, params: Params): Record<string, Param> {
  const values: Record<string, Param> = {};
  for (const name of statement.names[i]!) {
    const value = params[name];
    if (value === undefined) throw new TypeError(`statement binds :${name} but got no value for it: ${statement.texts[i]!.slice(0, 80)}`);
    values[name] = value;
  }
  return values;
}

/** What runs statements: a pool or database (one statement each) or a transaction's connection. */
export interface SqlRunner {
  select<P extends Params, R>(statement: Statement<P, R>, params: P): Promise<R[]>;
  /** An INSERT, UPDATE or DELETE: the rows it changed. */
  run<P extends Params>(statement: Statement<P, never>, params: P): Promise<number>;
}

/** A database the storage engine writes: statements, and transactions that lock what they read. */
export interface SqlDatabase extends SqlRunner {
  /**
   * Runs `work` in one transaction, retried on deadlock. Rows it reads with a locking statement
   * stay locked until it ends (SQLite locks the whole database for writing at its start).
   */
  transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T>;
  /** The largest statement the server accepts, in bytes, and the setting that says so (when it has such a limit). */
  readonly statementLimit: { bytes: number; setting: string } | undefined;
  close(): Promise<void>;
}
