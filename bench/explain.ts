// Index-use checks: each SELECT an operation really sends through the checkpointer's pool is
// explained (EXPLAIN FORMAT=TREE, same parameters) just before it runs, so the plan is the one
// for the data the query meets.
import mysql from "mysql2/promise";
import type { MySQLCheckpointer } from "../checkpointer/index.js";

export interface Plan {
  operation: string;
  plan: string;
  /** A full table scan, other than of a derived table (search's `h`, listWithMetadata's `page`) or a temporary one. */
  fullScan: boolean;
}

const FULL_SCAN = /Table scan on (?!h\b|page\b|<)/;

/** What mysql2's `execute` takes: SQL text, or options holding it (the module passes `{ sql, namedPlaceholders }`). */
type Query = string | { sql: string; namedPlaceholders?: boolean };

/** Runs `op` once and returns the plans of the distinct SELECTs it ran (WITH … SELECT included). */
export async function explainOperation(cp: MySQLCheckpointer<unknown>, url: string, operation: string, op: () => Promise<unknown>): Promise<Plan[]> {
  await cp.backend.ensureSchema();
  const conn = await mysql.createConnection(url);
  const pool = cp.backend.database.pool;
  const execute = pool.execute.bind(pool);
  const plans: Plan[] = [];
  const seen = new Set<string>();
  pool.execute = (async (query: Query, params: unknown) => {
    const text = typeof query === "string" ? query : query.sql;
    if (/^[\s(]*(SELECT|WITH)\b/i.test(text) && !seen.has(text)) {
      seen.add(text);
      const explain = typeof query === "string" ? `EXPLAIN FORMAT=TREE ${text}` : { ...query, sql: `EXPLAIN FORMAT=TREE ${text}` };
      const [rows] = await (typeof explain === "string" ? conn.execute<mysql.RowDataPacket[]>(explain, params as never) : conn.execute<mysql.RowDataPacket[]>(explain, params as never));
      const plan = String(rows[0]!.EXPLAIN);
      plans.push({ operation, plan, fullScan: FULL_SCAN.test(plan) });
    }
    return execute(query as never, params as never);
  }) as typeof pool.execute;
  try {
    await op();
    if (plans.length === 0) throw new Error(`explain: ${operation} ran no SELECT through the pool's execute(); the hook no longer sees the module's statements`);
    return plans;
  } finally {
    pool.execute = execute;
    await conn.end();
  }
}
