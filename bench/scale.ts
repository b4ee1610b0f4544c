// Part 3: how reads behave as the tables grow (bulk-loaded histories, 10^3 … 10^6 threads), the
// plan of every query they run, and vacuum of expired checkpoints while saves go on.
import mysql from "mysql2/promise";
import { mysqlCheckpointer, type MySQLCheckpointer } from "../checkpointer/index.js";
import { bulkLoad, threadName, THREADS_PER_USER, userName, userWord } from "./bulk.js";
import { benchConfig, target, type BenchContext, type PartResult, type Target } from "./context.js";
import { explainOperation, type Plan } from "./explain.js";
import { makeState, prng } from "./states.js";
import { count, ms, ratio, rotate, Samples, table, times, type Summary } from "./stats.js";

interface ScalePlan {
  levels: number[];
  /** Rounds per level; each round runs every read once, in rotating order. */
  rounds: number;
  /** Expired checkpoints for the vacuum run. */
  vacuumCheckpoints: number;
  /** Saves before and after the vacuum (the baseline), each. */
  baselineSaves: number;
}

const FULL: ScalePlan = { levels: [1e3, 1e5, 1e6], rounds: 200, vacuumCheckpoints: 1e5, baselineSaves: 300 };
const QUICK: ScalePlan = { levels: [1e3, 1e4], rounds: 30, vacuumCheckpoints: 1e4, baselineSaves: 60 };
/** Checkpoints in each loaded thread's history. */
const HISTORY = 3;
const PATTERNS: Pattern[] = ["uniform", "newest 1,000"];
const DAY_MS = 86_400_000;
/** Vacuum threads hold this many expired checkpoints each. */
const EXPIRED_PER_THREAD = 10;

type Reader = (random: () => number) => Promise<number>;

/**
 * The reads, each on a random one of the first `threads` threads (the newest) or of their users;
 * each returns how many results it got.
 */
function readers(cp: MySQLCheckpointer<unknown>, threads: number): Record<string, Reader> {
  const pick = (random: () => number, n: number) => Math.floor(random() * n);
  const users = threads / THREADS_PER_USER;
  return {
    load: async (r) => ((await cp.load(threadName(pick(r, threads)))) === null ? 0 : 1),
    "listThreads(prefix)": async (r) => (await cp.listThreads({ prefix: `${userName(pick(r, users))}:`, limit: 10 })).length,
    queryByMetadata: async (r) => (await cp.queryByMetadata("user", userName(pick(r, users)), 10)).length,
    listWithMetadata: async () => (await cp.listWithMetadata({ limit: 20 })).length,
    search: async (r) => (await cp.search(userWord(pick(r, users)), 10)).length,
  };
}

/** What each read must return on the loaded data: one state, a user's ten threads, a page of twenty. */
const EXPECTED: Record<string, number> = { load: 1, "listThreads(prefix)": 10, queryByMetadata: 10, listWithMetadata: 20, search: 10 };

/** The lines of a plan that read a table or index (scans and lookups), costs dropped; the first lines when none does. */
function accessSteps(plan: string): string {
  const lines = plan.split("\n").map((l) => l.trim().replace(/^-> /, "").replace(/\s+\(cost=.*$/, ""));
  const steps = lines.filter((l) => /\b(scan|lookup|search) on\b/i.test(l));
  return (steps.length > 0 ? steps : lines.slice(0, 3)).join(" ⟶ ");
}

async function analyze(url: string, tables: string[]): Promise<void> {
  const conn = await mysql.createConnection(url);
  try {
    await conn.query(`ANALYZE TABLE ${tables.map((t) => `\`${t}\``).join(", ")}`);
  } finally {
    await conn.end();
  }
}

interface LevelRow extends Summary {
  threads: number;
  pattern: Pattern;
  read: string;
  /** InnoDB buffer pool misses (pages read from the file) per read; server-wide, so other clients add to it. */
  poolMissesPerRead: number;
}

/**
 * Which threads the reads pick: any loaded one (the worst case for caches), or the 1,000 newest,
 * the same at every size and warmed first (a working set of recent conversations, as an agent's
 * users have).
 */
type Pattern = "uniform" | "newest 1,000";
const HOT_THREADS = 1000;

async function warmUp(cp: MySQLCheckpointer<unknown>, threads: number): Promise<void> {
  for (let i = 0; i < threads; i++) await cp.load(threadName(i));
  for (let user = 0; user < threads / THREADS_PER_USER; user++) {
    await cp.listThreads({ prefix: `${userName(user)}:`, limit: 10 });
    await cp.queryByMetadata("user", userName(user), 10);
    await cp.search(userWord(user), 10);
  }
}

async function poolMisses(url: string): Promise<number> {
  const conn = await mysql.createConnection(url);
  try {
    const [[row]] = await conn.query<mysql.RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_reads'");
    return Number(row!.Value);
  } finally {
    await conn.end();
  }
}

export async function runScale(ctx: BenchContext): Promise<PartResult> {
  const plan = ctx.quick ? QUICK : FULL;
  const cp = mysqlCheckpointer(benchConfig(ctx.mysqlUrl, "scale_"));
  const rows: LevelRow[] = [];
  const plans: (Plan & { threads: number })[] = [];
  const failures: string[] = [];
  const loadSeconds: Record<number, number> = {};
  const now = Date.now();
  let vacuum: VacuumResult;
  try {
    await cp.backend.ensureSchema();
    const tables = cp.backend.tables;
    let loaded = 0;
    for (const level of plan.levels) {
      ctx.log(`  scale: bulk-loading threads ${loaded} … ${level - 1} (${HISTORY} checkpoints each)`);
      const start = performance.now();
      // Newest thread first in id order, a second apart; the history a minute apart before that.
      await bulkLoad(ctx.mysqlUrl, tables, loaded, level, (i) => ({ checkpoints: HISTORY, updatedAt: new Date(now - 60_000 - i * 1000), spacingMs: 60_000 }));
      loadSeconds[level] = (performance.now() - start) / 1000;
      loaded = level;
      await analyze(ctx.mysqlUrl, [tables.threads, tables.checkpoints]);
      const random = prng(level);
      for (const [name, read] of Object.entries(readers(cp, level))) {
        for (const p of await explainOperation(cp, ctx.mysqlUrl, name, () => read(random))) plans.push({ ...p, threads: level });
      }
      for (const pattern of PATTERNS) {
        ctx.log(`  scale: ${count(level)} threads, ${plan.rounds} rounds of reads (${pattern})`);
        const reads = readers(cp, pattern === "uniform" ? level : HOT_THREADS);
        // A working set is warm: every thread and user of it read once before the clock starts.
        if (pattern !== "uniform") await warmUp(cp, HOT_THREADS);
        const samples = new Map(Object.keys(reads).map((name) => [name, new Samples()]));
        const missesBefore = await poolMisses(ctx.mysqlUrl);
        for (let round = 0; round < plan.rounds; round++) {
          for (const [name, read] of rotate(Object.entries(reads), round)) {
            const got = await samples.get(name)!.time(() => read(random));
            if (got !== EXPECTED[name]) failures.push(`${name} at ${level} threads returned ${got} results, expected ${EXPECTED[name]}`);
          }
        }
        const missesPerRead = ((await poolMisses(ctx.mysqlUrl)) - missesBefore) / (plan.rounds * samples.size);
        for (const [read, s] of samples) rows.push({ threads: level, pattern, read, ...s.summary(), poolMissesPerRead: missesPerRead });
      }
    }
    vacuum = await runVacuum(ctx, plan, cp, loaded);
  } finally {
    await cp.close();
  }
  plans.push(...vacuum.plans.map((p) => ({ ...p, threads: vacuum.threads })));
  for (const p of plans.filter((p) => p.fullScan)) failures.push(`FULL TABLE SCAN in ${p.operation} at ${p.threads} threads:\n${p.plan}`);
  failures.push(...vacuum.failures);

  const first = plan.levels[0]!;
  const top = plan.levels.at(-1)!;
  const at = (threads: number, pattern: Pattern, read: string) => rows.find((r) => r.threads === threads && r.pattern === pattern && r.read === read)!;
  const targets: Target[] = PATTERNS.flatMap((pattern) =>
    Object.keys(EXPECTED).map((read) =>
      target(`${read} p50 at ${count(top)} / at ${count(first)} threads (${pattern})`, ratio(at(top, pattern, read).p50, at(first, pattern, read).p50), 1.5),
    ),
  );
  targets.push(target("save p99 during vacuum / baseline", vacuum.p99Ratio, 2));

  const levelTables = PATTERNS.map((pattern) =>
    table(
      [`reads (${pattern})`, ...plan.levels.map((l) => `p50 ms @${count(l)}`), ...plan.levels.map((l) => `p99 ms @${count(l)}`), `p50 ${count(top)} / ${count(first)}`],
      [
        ...Object.keys(EXPECTED).map((read) => [
          read,
          ...plan.levels.map((l) => ms(at(l, pattern, read).p50)),
          ...plan.levels.map((l) => ms(at(l, pattern, read).p99)),
          times(ratio(at(top, pattern, read).p50, at(first, pattern, read).p50)),
        ]),
        ["buffer pool misses per read", ...plan.levels.map((l) => at(l, pattern, "load").poolMissesPerRead.toFixed(2)), ...plan.levels.map(() => ""), ""],
      ],
    ),
  );
  const planTable = table(
    ["operation", "threads", "how each table is read (the plan's access steps, outermost first)"],
    plans.map((p) => [p.operation, count(p.threads), accessSteps(p.plan).replaceAll("|", "\\|")]),
  );
  return {
    title: "Part 3: scale (bulk-loaded threads) and vacuum under load",
    report: [
      `Each thread has ${HISTORY} checkpoints of a small Locus-shaped state; ten threads per user share an id prefix, a \`user\` metadata value and a search word, ` +
        `so every read asks for a selective answer whose size does not grow with the table. Reads pick threads and users at random: among all threads ` +
        `(uniform: at 10^6 the rows no longer fit the buffer pool, so most reads wait for the file), or among the ${count(HOT_THREADS)} newest, ` +
        `each read once before timing (the same warm rows at every size: what the growth of the indexes alone costs). Buffer pool misses are the server's Innodb_buffer_pool_reads per read. ` +
        `Bulk load: ${Object.entries(loadSeconds).map(([l, s]) => `${count(Number(l))} threads in ${s.toFixed(0)} s`).join(", ")}.`,
      ...levelTables,
      vacuum.report,
      "Query plans (EXPLAIN FORMAT=TREE, checked for full table scans):",
      planTable,
    ],
    data: { rows, plans, vacuum: vacuum.data, loadSeconds },
    targets,
    failures,
  };
}

interface VacuumResult {
  threads: number;
  p99Ratio: number;
  report: string;
  data: unknown;
  plans: Plan[];
  failures: string[];
}

/**
 * Adds threads with expired checkpoints to the loaded tables (ids from `firstId` on): half expired
 * whole (their latest is old too), half with a fresh latest over an old history. Then
 * `vacuum({ olderThanDays: 30 })` deletes all the old checkpoints, and only those, while one client
 * keeps saving 1 KB states to other threads of the same tables. Baseline: the same saves before and after.
 */
async function runVacuum(ctx: BenchContext, plan: ScalePlan, cp: MySQLCheckpointer<unknown>, firstId: number): Promise<VacuumResult> {
  const threads = plan.vacuumCheckpoints / EXPIRED_PER_THREAD;
  const now = Date.now();
  ctx.log(`  vacuum: bulk-loading ${count(threads)} more threads holding ${count(plan.vacuumCheckpoints)} expired checkpoints`);
  await bulkLoad(ctx.mysqlUrl, cp.backend.tables, firstId, firstId + threads, (i) =>
    i % 2 === 0
      ? { checkpoints: EXPIRED_PER_THREAD, updatedAt: new Date(now - 400 * DAY_MS), spacingMs: DAY_MS }
      : { checkpoints: EXPIRED_PER_THREAD + 1, updatedAt: new Date(now - 3_600_000), spacingMs: 40 * DAY_MS },
  );
  await analyze(ctx.mysqlUrl, [cp.backend.tables.threads, cp.backend.tables.checkpoints]);
  const state = makeState(1024);
  let n = 0;
  const save = () => cp.save(state, `hot-${n++ % 16}`);
  const baseline = new Samples();
  const during = new Samples();
  for (let i = 0; i < plan.baselineSaves; i++) await baseline.time(save);
  ctx.log("  vacuum: running, saves continue");
  const started = performance.now();
  let deleted = -1;
  let plans: Plan[] = [];
  const vacuuming = explainOperation(cp, ctx.mysqlUrl, "vacuum", async () => (deleted = await cp.vacuum({ olderThanDays: 30 }))).then((p) => (plans = p));
  let done = false;
  void vacuuming.finally(() => (done = true));
  while (!done) await during.time(save);
  await vacuuming;
  const seconds = (performance.now() - started) / 1000;
  for (let i = 0; i < plan.baselineSaves; i++) await baseline.time(save);
  const b = baseline.summary();
  const d = during.summary();
  const failures = deleted === plan.vacuumCheckpoints ? [] : [`vacuum deleted ${deleted} checkpoints, expected ${plan.vacuumCheckpoints}`];
  return {
    threads: firstId + threads,
    p99Ratio: ratio(d.p99, b.p99),
    plans,
    failures,
    data: { deleted, seconds, baseline: b, during: d },
    report:
      `Vacuum deleted ${count(deleted)} expired checkpoints (${count(threads / 2)} whole threads, and the old history of ${count(threads / 2)} live ones) ` +
      `among ${count(firstId)} live threads in ${seconds.toFixed(1)} s (${count(deleted / seconds)} checkpoints/s) while saves went on:\n\n` +
      table(
        ["1 KB saves", "n", "p50 ms", "p99 ms", "p99 / baseline"],
        [
          ["baseline (before and after)", b.n, ms(b.p50), ms(b.p99), times(1)],
          ["during vacuum", d.n, ms(d.p50), ms(d.p99), times(ratio(d.p99, b.p99))],
        ],
      ),
  };
}
