// Part "cluster": what InnoDB Cluster costs a save and a load. The same checkpointer on the single
// server of MYSQL_URL, on a private three-member Group Replication cluster through MySQL Router,
// and on that cluster's primary directly (Router's share), interleaved in one run.
import { mysqlCheckpointer } from "../checkpointer/index.js";
import type { AgentState } from "../app/agent/state.js";
import { freshDatabase } from "../test/support/databases.js";
import { mysqlClusterUnavailable, startMysqlCluster } from "../test/support/mysql-cluster.js";
import { benchConfig, type BenchContext, type PartResult } from "./context.js";
import { checkpointerContender, measure } from "./ops.js";
import { makeState, SIZES, type SizeName } from "./states.js";
import { ms, ratio, table, times } from "./stats.js";

const TITLE = "Part cluster: save and load through MySQL Router on a three-member InnoDB Cluster, beside one server";
const SINGLE = "single server";
const ROUTER = "cluster via Router";
const PRIMARY = "cluster primary, direct";
const OPS = ["save", "loadLatest"] as const;

export async function runCluster(ctx: BenchContext): Promise<PartResult> {
  const unavailable = mysqlClusterUnavailable();
  if (unavailable) return { title: TITLE, report: [], data: null, skipped: unavailable };
  const sizes: SizeName[] = ctx.quick ? ["1KB"] : ["1KB", "100KB"];
  const plan = ctx.quick
    ? { sizes, serial: { "1KB": 40, "100KB": 20, "1MB": 0 }, rounds: { "1KB": 0, "100KB": 0, "1MB": 0 } }
    : { sizes, serial: { "1KB": 300, "100KB": 150, "1MB": 0 }, rounds: { "1KB": 0, "100KB": 0, "1MB": 0 } };
  ctx.log("  cluster: starting a private three-member cluster (scripts/mysql-cluster.sh)");
  const cluster = await startMysqlCluster();
  const db = await freshDatabase(cluster.url, "bench");
  const direct = new URL(db.url);
  direct.port = String(await cluster.primary());
  const stores = [
    [SINGLE, mysqlCheckpointer<AgentState>(benchConfig(ctx.mysqlUrl))],
    [ROUTER, mysqlCheckpointer<AgentState>(benchConfig(db.url))],
    [PRIMARY, mysqlCheckpointer<AgentState>(benchConfig(direct.toString()))],
  ] as const;
  const rows: { size: SizeName; op: string; contender: string; p50: number; p99: number; p50Ratio: number }[] = [];
  try {
    for (const [, store] of stores) await store.backend.ensureSchema();
    for (const size of sizes) {
      const state = makeState(SIZES[size]);
      const contenders = stores.map(([name, store]) => checkpointerContender(name, store, state, size));
      for (const c of contenders) await c.prepare(1);
      for (const op of OPS) {
        ctx.log(`  cluster: ${op} ${size}`);
        const results = await measure(contenders, op, 1, plan, size);
        const single = results.get(SINGLE)!;
        for (const [contender, s] of results) rows.push({ size, op, contender, p50: s.p50, p99: s.p99, p50Ratio: ratio(s.p50, single.p50) });
      }
    }
  } finally {
    await Promise.all(stores.map(([, store]) => store.close()));
    await cluster.destroy();
  }
  return {
    title: TITLE,
    report: [
      "Concurrency 1, the contenders taking turns op by op. The cluster's three members and Router run on the same machine as the single " +
        "server (no network between them): what is measured is Group Replication's certification round and Router's extra hop, not a real " +
        "network's latency, which adds to both in production.",
      table(
        ["size", "op", "contender", "p50 ms", "p99 ms", "p50 / single"],
        rows.map((r) => [r.size, r.op, r.contender, ms(r.p50), ms(r.p99), times(r.p50Ratio)]),
      ),
    ],
    data: { rows },
  };
}
