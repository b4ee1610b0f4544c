// Part 1: save and load cost per operation, against the physical ceiling on the same pool and
// server (one raw autocommit INSERT of the same bytes, one raw primary-key SELECT).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RowDataPacket } from "mysql2/promise";
import { MemoryCheckpointer, mysqlCheckpointer, SQLiteCheckpointer, type Checkpointer, type MySQLCheckpointer } from "../checkpointer/index.js";
import { benchConfig, target, type BenchContext, type PartResult, type Target } from "./context.js";
import { makeState, SIZES, type SizeName } from "./states.js";
import type { AgentState } from "../app/agent/state.js";
import { ms, ratio, rotate, runConcurrently, Samples, table, times, count, type Summary } from "./stats.js";

export const OPS = ["save", "loadLatest", "loadById"] as const;
export type Op = (typeof OPS)[number];

/** One contender: the three operations for worker `w` (each worker owns its threads). */
export interface Contender {
  name: string;
  prepare(workers: number): Promise<void>;
  run: Record<Op, (w: number) => Promise<unknown>>;
  /**
   * Its `run` resolves to the operation's latency in ms, timed where the store runs (a child
   * process), so the IPC around it is not counted.
   */
  timesItself?: boolean;
}

export interface Plan {
  sizes: SizeName[];
  /** Sequential ops per contender at concurrency 1, by size. */
  serial: Record<SizeName, number>;
  /** Rounds at concurrency 16 (each: 16 concurrent ops per contender, contenders in turn). */
  rounds: Record<SizeName, number>;
}

/** A contender's latencies, and the operations that failed (not timed; the part reports them as failures). */
export interface Measured extends Summary {
  errors: number;
  firstError?: string;
}

const CONCURRENCY = [1, 16] as const;
const FULL: Plan = {
  sizes: ["1KB", "100KB", "1MB"],
  serial: { "1KB": 400, "100KB": 200, "1MB": 50 },
  rounds: { "1KB": 40, "100KB": 20, "1MB": 6 },
};
const QUICK: Plan = {
  sizes: ["1KB", "100KB"],
  serial: { "1KB": 40, "100KB": 20, "1MB": 0 },
  rounds: { "1KB": 3, "100KB": 2, "1MB": 0 },
};
const RAW_TABLE = "bench_raw";
const MYSQL = "mysql";
const MYSQL_NO_SEARCH = "mysql, no search text";

interface OpRow extends Summary {
  size: SizeName;
  bytes: number;
  concurrency: number;
  op: Op;
  contender: string;
  p50Ratio: number;
  p99Ratio: number;
  p50FloorRatio: number;
}

/**
 * A checkpointer as a contender. Each save starts a thread of its own, so it stores the whole
 * state, as the raw INSERT does: saving the same state again on one thread would be an empty
 * delta (the long-conversation part measures saves that add a turn). Loads read the worker's
 * two-checkpoint thread.
 */
export function checkpointerContender(name: string, cp: Checkpointer<AgentState>, state: AgentState, size: SizeName): Contender {
  const firstIds: string[] = [];
  let saves = 0;
  const thread = (kind: string, w: number) => `${name}-${kind}-${size}-${w}`;
  return {
    name,
    async prepare(workers) {
      for (let w = 0; w < workers; w++) {
        firstIds[w] = await cp.save(state, thread("load", w));
        await cp.save(state, thread("load", w));
      }
    },
    run: {
      save: (w) => cp.save(state, thread(`save-${++saves}`, w)),
      loadLatest: (w) => cp.load(thread("load", w)),
      loadById: (w) => cp.load(thread("load", w), firstIds[w]),
    },
  };
}

/**
 * The ceiling: the same serialised bytes in one autocommit INSERT / one PK SELECT, on the
 * checkpointer's pool. With `json`, the floor for any store that takes and returns objects:
 * JSON.stringify before the INSERT, JSON.parse after the SELECT.
 */
function rawContender(cp: MySQLCheckpointer<AgentState>, state: AgentState, size: SizeName, json: boolean): Contender {
  const document = Buffer.from(JSON.stringify(state));
  const pool = () => cp.backend.database.pool;
  const seqs = new Map<number, number>();
  const name = json ? "raw + JSON" : "raw mysql2";
  const insert = (thread: string, seq: number, bytes: Buffer | string) =>
    pool().execute(`INSERT INTO ${RAW_TABLE} (thread_id, seq, checkpoint_id, state) VALUES (?, ?, ?, ?)`, [thread, seq, `c${seq}`, bytes]);
  const select = async (thread: string, seq: number) => {
    const [rows] = await pool().execute<RowDataPacket[]>(`SELECT state FROM ${RAW_TABLE} WHERE thread_id = ? AND seq = ?`, [thread, seq]);
    return json ? JSON.parse((rows[0]!.state as Buffer).toString("utf8")) : rows[0]!.state;
  };
  const thread = (kind: string, w: number) => `${name}-${kind}-${size}-${w}`;
  return {
    name,
    async prepare(workers) {
      for (let w = 0; w < workers; w++) {
        await insert(thread("load", w), 1, document);
        await insert(thread("load", w), 2, document);
      }
    },
    run: {
      save: (w) => {
        const seq = (seqs.get(w) ?? 0) + 1;
        seqs.set(w, seq);
        return insert(thread("save", w), seq, json ? JSON.stringify(state) : document);
      },
      loadLatest: (w) => select(thread("load", w), 2),
      loadById: (w) => select(thread("load", w), 1),
    },
  };
}

/**
 * Runs every op of every contender, interleaved: contenders take turns op by op (c=1) or round by
 * round (c=16). An operation that throws is counted, not timed, and the run goes on.
 */
export async function measure(contenders: Contender[], op: Op, concurrency: number, plan: Plan, size: SizeName): Promise<Map<string, Measured>> {
  const samples = new Map(contenders.map((c) => [c.name, new Samples()]));
  const errors = new Map(contenders.map((c) => [c.name, { count: 0, first: undefined as string | undefined }]));
  /** One operation's latency, or undefined when it failed. */
  const once = async (c: Contender, w: number): Promise<number | undefined> => {
    const start = performance.now();
    try {
      const result = await c.run[op](w);
      return c.timesItself ? (result as number) : performance.now() - start;
    } catch (error) {
      const e = errors.get(c.name)!;
      e.count++;
      e.first ??= error instanceof Error ? error.message : String(error);
      return undefined;
    }
  };
  if (concurrency === 1) {
    for (let i = 0; i < plan.serial[size]; i++) {
      for (const c of rotate(contenders, i)) {
        const latency = await once(c, 0);
        if (latency === undefined) continue;
        const s = samples.get(c.name)!;
        s.record(latency);
        s.wallMs += latency;
      }
    }
  } else {
    for (let round = 0; round < plan.rounds[size]; round++) {
      for (const c of rotate(contenders, round)) {
        const s = samples.get(c.name)!;
        const start = performance.now();
        await runConcurrently(concurrency, concurrency, async (w) => {
          const latency = await once(c, w);
          if (latency !== undefined) s.record(latency);
        });
        s.wallMs += performance.now() - start;
      }
    }
  }
  return new Map(
    [...samples].map(([name, s]) => {
      const e = errors.get(name)!;
      return [name, { ...s.summary(), errors: e.count, ...(e.first !== undefined && { firstError: e.first }) }];
    }),
  );
}

/** The failures a part reports for operations that threw: how many of how many, and the first message. */
export function errorFailures(results: Map<string, Measured>, what: string): string[] {
  return [...results]
    .filter(([, m]) => m.errors > 0)
    .map(([name, m]) => `${name}: ${m.errors} of ${m.errors + m.n} ${what} failed, first: ${m.firstError}`);
}

export async function runOps(ctx: BenchContext): Promise<PartResult> {
  const plan = ctx.quick ? QUICK : FULL;
  const mysql = mysqlCheckpointer<AgentState>(benchConfig(ctx.mysqlUrl));
  // The same tables and server, no full-text search: `searchText` returning "" indexes nothing.
  const mysqlNoSearch = mysqlCheckpointer<AgentState>(benchConfig(ctx.mysqlUrl), { searchText: () => "" });
  await mysql.backend.ensureSchema();
  await mysql.backend.database.pool.query(`CREATE TABLE ${RAW_TABLE} (
  thread_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
  seq BIGINT UNSIGNED NOT NULL,
  checkpoint_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_bin NOT NULL,
  state LONGBLOB NOT NULL,
  PRIMARY KEY (thread_id, seq)
) ENGINE=InnoDB`);
  const directory = await mkdtemp(join(tmpdir(), "bench-sqlite-"));
  const sqlite = new SQLiteCheckpointer<AgentState>({ path: join(directory, "checkpoints.db") });
  const memory = new MemoryCheckpointer<AgentState>();
  const rows: OpRow[] = [];
  const targets: Target[] = [];
  const failures: string[] = [];
  try {
    for (const size of plan.sizes) {
      const state = makeState(SIZES[size]);
      const contenders = [
        rawContender(mysql, state, size, false),
        rawContender(mysql, state, size, true),
        checkpointerContender(MYSQL, mysql, state, size),
        checkpointerContender(MYSQL_NO_SEARCH, mysqlNoSearch, state, size),
        checkpointerContender("sqlite", sqlite, state, size),
        checkpointerContender("memory", memory, state, size),
      ];
      for (const c of contenders) await c.prepare(Math.max(...CONCURRENCY));
      const bytes = Buffer.byteLength(JSON.stringify(state));
      for (const concurrency of CONCURRENCY) {
        for (const op of OPS) {
          ctx.log(`  ops: ${op} ${size} c=${concurrency}`);
          const results = await measure(contenders, op, concurrency, plan, size);
          failures.push(...errorFailures(results, `${op} ${size} c=${concurrency}`));
          const raw = results.get("raw mysql2")!;
          const floor = results.get("raw + JSON")!;
          for (const [contender, s] of results) {
            rows.push({ size, bytes, concurrency, op, contender, ...s, p50Ratio: ratio(s.p50, raw.p50), p99Ratio: ratio(s.p99, raw.p99), p50FloorRatio: ratio(s.p50, floor.p50) });
          }
          if (concurrency !== 1 || size === "1MB") continue;
          const [limit, against] = op === "save" ? [1.3, "raw INSERT"] : [1.2, "raw SELECT"];
          for (const name of [MYSQL, MYSQL_NO_SEARCH]) {
            targets.push(target(`${op} p50 ${size}, ${name} / ${against}`, ratio(results.get(name)!.p50, raw.p50), limit));
          }
        }
      }
    }
  } finally {
    await Promise.all([mysql.close(), mysqlNoSearch.close(), sqlite.close(), memory.close()]);
    await rm(directory, { recursive: true, force: true });
  }
  const header = ["size", "c", "op", "contender", "p50 ms", "p99 ms", "ops/s", "p50 / raw", "p99 / raw", "p50 / raw+JSON"];
  const body = rows.map((r) => [
    r.size,
    r.concurrency,
    r.op,
    r.contender,
    ms(r.p50),
    ms(r.p99),
    count(r.opsPerSec),
    times(r.p50Ratio),
    times(r.p99Ratio),
    times(r.p50FloorRatio),
  ]);
  return {
    title: "Part 1: per-operation cost against the raw mysql2 ceiling on the same pool",
    report: [
      "`raw mysql2` is the ceiling: the state's bytes in one autocommit INSERT into a table with the same ids and a LONGBLOB, and one primary-key SELECT. " +
        "`raw + JSON` adds JSON.stringify / JSON.parse, the floor for any store that takes and returns objects. " +
        `\`${MYSQL_NO_SEARCH}\` is the MySQL checkpointer with \`searchText: () => ""\`. Each checkpointer save starts a thread, so it stores the whole state as the INSERT does (a save that adds a turn is a delta: see the long-conversation part). ` +
        "Concurrency 16 runs 16 operations at once on a pool of 16 connections.",
      table(header, body),
    ],
    data: { rows },
    targets,
    failures,
  };
}
