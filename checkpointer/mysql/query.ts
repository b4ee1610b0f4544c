import type { ResultSetHeader } from "mysql2/promise";

/** A value bound to a `?`. */
export type Param = string | number | Date | Buffer | null;

/**
 * SQL text that returns rows of type `R`. Each statement declares its row type once, where it is
 * written; `select` returns that type, so call sites read typed fields instead of casting each one.
 */
export type Query<R> = string & { readonly __rows?: R };

/** Tags a SELECT with the row type its columns give (mysql2 returns DATETIME as Date, JSON parsed). */
export function query<R>(sql: string): Query<R> {
  return sql as Query<R>;
}

/** What runs statements: the pool (one statement each) or a transaction's connection. */
export interface SqlRunner {
  select<R>(sql: Query<R>, params: Param[]): Promise<R[]>;
  /** An INSERT, UPDATE or DELETE; the result counts affected rows. */
  run(sql: string, params: Param[]): Promise<ResultSetHeader>;
}
