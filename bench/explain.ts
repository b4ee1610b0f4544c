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

/** Runs `op` once and returns the plans of the distinct SELECTs it ran. */
export async function explainOperation(cp: MySQLCheckpointer<unknown>, url: string, operation: string, op: () => Promise<unknown>): Promise<Plan[]> {
  await cp.backend.ensureSchema();
  const conn = await mysql.createConnection(url);
  const pool = cp.backend.database.pool;
  const execute = pool.execute.bind(pool);
  const plans: Plan[] = [];
  const seen = new Set<string>();
  pool.execute = (async (sql: string, params: unknown[]) => {
    if (/^[\s(]*SELECT/i.test(sql) && !seen.has(sql)) {
      seen.add(sql);
      const [rows] = await conn.execute<mysql.RowDataPacket[]>(`EXPLAIN FORMAT=TREE ${sql}`, params as never[]);
      const plan = String(rows[0]!.EXPLAIN);
      plans.push({ operation, plan, fullScan: FULL_SCAN.test(plan) });
    }
    return execute(sql, params as never);
  }) as typeof pool.execute;
  try {
    await op();
    return plans;
  } finally {
    pool.execute = execute;
    await conn.end();
  }
}
