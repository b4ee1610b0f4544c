// Index-use checks: each SELECT an operation really sends on the checkpointer's pooled connections is
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
  const plans: Plan[] = [];
  const seen = new Set<string>();
  const explained = async (query: Query, params: unknown) => {
    const text = typeof query === "string" ? query : query.sql;
    if (/^[\s(]*(SELECT|WITH)\b/i.test(text) && !seen.has(text)) {
      seen.add(text);
      const explain = typeof query === "string" ? `EXPLAIN FORMAT=TREE ${text}` : { ...query, sql: `EXPLAIN FORMAT=TREE ${text}` };
      const [rows] = await (typeof explain === "string" ? conn.execute<mysql.RowDataPacket[]>(explain, params as never) : conn.execute<mysql.RowDataPacket[]>(explain, params as never));
      const plan = String(rows[0]!.EXPLAIN);
      plans.push({ operation, plan, fullScan: FULL_SCAN.test(plan) });
    }
  };
  // The module runs each statement on a connection it takes from the pool (getConnection), so
  // the hook wraps the execute() of every connection the pool lends while `op` runs.
  const getConnection = pool.getConnection.bind(pool);
  const wrapped = new Map<mysql.PoolConnection, mysql.PoolConnection["execute"]>();
  pool.getConnection = (async () => {
    const lent = await getConnection();
    if (!wrapped.has(lent)) {
      const execute = lent.execute.bind(lent);
      wrapped.set(lent, lent.execute);
      lent.execute = (async (query: Query, params: unknown) => {
        await explained(query, params);
        return execute(query as never, params as never);
      }) as typeof lent.execute;
    }
    return lent;
  }) as typeof pool.getConnection;
  try {
    await op();
    if (plans.length === 0) throw new Error(`explain: ${operation} ran no SELECT on a pooled connection; the hook no longer sees the module's statements`);
    return plans;
  } finally {
    pool.getConnection = getConnection;
    for (const [lent, execute] of wrapped) lent.execute = execute;
    await conn.end();
  }
}
