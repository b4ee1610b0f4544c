// Part 2: the same LangGraph checkpoints through the one API users switch between: this
// project's MySQLSaver, the PostgreSQL saver on the local server, and the SQLite saver (a file).
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { MySQLSaver } from "../checkpointer/langgraph/index.js";
import { ChildDied, forkChild, type Child } from "./child.js";
import { target, type BenchContext, type PartResult, type Target } from "./context.js";
import { localDriver, SAVER_OPS, type SaverDriver, type SaverOp, type StepResult } from "./saver-driver.js";
import type { Request, SaverSettings } from "./sqlite-peer.js";
import type { SizeName } from "./states.js";
import { count, ms, ratio, rotate, Samples, table, times, type Summary } from "./stats.js";

/** pg ships no types and @types/pg is no dependency: the little of it the bench uses. */
export interface PgConnection {
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  end(): Promise<void>;
}
const pg = createRequire(import.meta.url)("pg") as {
  Client: new (options: { connectionString: string }) => PgConnection & { connect(): Promise<void> };
  Pool: new (options: { connectionString: string; max: number }) => PgConnection & { on(event: "error", listener: () => void): void };
};

interface PeersPlan {
  sizes: SizeName[];
  /** Steps at concurrency 1, and rounds of 16 at once at concurrency 16, per op and saver. */
  steps: Record<number, number>;
}
const FULL: PeersPlan = { sizes: ["1KB", "100KB"], steps: { 1: 200, 16: 20 } };
const QUICK: PeersPlan = { sizes: ["1KB"], steps: { 1: 30, 16: 2 } };
const CONCURRENCY = [1, 16] as const;
const MYSQL = "MySQLSaver (this project)";
const POSTGRES = "PostgresSaver";
const SQLITE = "SqliteSaver (file)";
/** better-sqlite3 may abort its process now and then (see sqlite-peer.ts); more restarts than this means something else is wrong. */
export const MAX_SQLITE_RESTARTS = 5;

/** The PostgreSQL saver on a fresh database of the server at `url`; `close` drops it. */
export async function openPostgresSaver(url: string): Promise<{ saver: PostgresSaver; pool: PgConnection; close: () => Promise<void> }> {
  const name = `bench_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const dbUrl = new URL(url);
  dbUrl.pathname = `/${name}`;
  // A pool as large as the others', for concurrency 16.
  const pool = new pg.Pool({ connectionString: dbUrl.toString(), max: 16 });
  // The server may end an idle connection (DROP DATABASE … FORCE does); pg reports it on the pool,
  // and an unhandled 'error' event would end the bench. A query on a dead connection still fails.
  pool.on("error", () => undefined);
  const saver = new PostgresSaver(pool as never);
  await saver.setup();
  const close = async () => {
    await pool.end();
    const drop = new pg.Client({ connectionString: url });
    await drop.connect();
    await drop.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => drop.end());
  };
  return { saver, pool, close };
}

async function postgresDriver(url: string): Promise<SaverDriver> {
  const { saver, close } = await openPostgresSaver(url);
  return localDriver(POSTGRES, saver, close);
}

/** A child process running sqlite-peer.ts on `directory` (the saver's file is `checkpoints.db` in it). */
export function forkSqlitePeer(directory: string): Child<Request["call"]> {
  return forkChild(new URL("./sqlite-peer.ts", import.meta.url), [directory], "the SQLite saver's process");
}

/**
 * The SQLite saver in its own process (see sqlite-peer.ts), driven over IPC. When that process
 * aborts, a new one opens the same file, prepares the sizes again and re-runs the interrupted
 * request; `restarts` counts how often.
 */
export async function sqliteDriver(): Promise<SaverDriver & { restarts: () => number; settings: () => Promise<SaverSettings> }> {
  const directory = await mkdtemp(join(tmpdir(), "bench-sqlite-"));
  const prepared: [SizeName, number][] = [];
  let restarts = 0;
  let peer = forkSqlitePeer(directory);
  const call = async <T>(name: Request["call"], ...args: unknown[]): Promise<T> => {
    try {
      return await peer.request<T>(name, ...args);
    } catch (error) {
      if (!(error instanceof ChildDied) || restarts >= MAX_SQLITE_RESTARTS) throw error;
      restarts++;
      peer = forkSqlitePeer(directory);
      for (const [size, workers] of prepared) await peer.request("prepare", size, workers);
      return peer.request<T>(name, ...args);
    }
  };
  return {
    name: SQLITE,
    restarts: () => restarts,
    settings: () => call<SaverSettings>("settings"),
    async prepare(size, workers) {
      await call("prepare", size, workers);
      prepared.push([size, workers]);
    },
    step: (op, size, workers) => call<StepResult>("step", op, size, workers),
    async close() {
      // An abort while it tears down costs nothing any more: the results are in.
      await peer.request("close").catch(() => undefined);
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** The savers whose servers answer, and a line for each that does not. */
async function openDrivers(ctx: BenchContext): Promise<{ drivers: SaverDriver[]; skipped: string[]; sqliteRestarts: () => number }> {
  const url = new URL(ctx.mysqlUrl);
  url.searchParams.set("table-prefix", "peer_");
  url.searchParams.set("connection-limit", "16");
  const mysql = MySQLSaver.fromConnString(url.toString());
  await mysql.setup();
  const drivers = [localDriver(MYSQL, mysql, () => mysql.end())];
  const skipped: string[] = [];
  try {
    drivers.push(await postgresDriver(ctx.postgresUrl));
  } catch (error) {
    skipped.push(`${POSTGRES}: PostgreSQL not available at ${new URL(ctx.postgresUrl).host} (${(error as Error).message})`);
  }
  const sqlite = await sqliteDriver();
  drivers.push(sqlite);
  return { drivers, skipped, sqliteRestarts: sqlite.restarts };
}

interface PeerRow extends Summary {
  size: SizeName;
  concurrency: number;
  op: SaverOp;
  peer: string;
  ratioToMySQL: number;
}

export async function runPeers(ctx: BenchContext): Promise<PartResult> {
  const plan = ctx.quick ? QUICK : FULL;
  const { drivers, skipped, sqliteRestarts } = await openDrivers(ctx);
  let live = [...drivers];
  /** Takes a saver out of the run when it fails (the SQLite process aborting), with a line saying so. */
  const attempt = async <T>(driver: SaverDriver, work: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await work();
    } catch (error) {
      if (driver.name === MYSQL) throw error;
      live = live.filter((d) => d !== driver);
      skipped.push(`${driver.name}: failed mid-run, ${(error as Error).message}`);
      return undefined;
    }
  };
  const rows: PeerRow[] = [];
  const targets: Target[] = [];
  try {
    for (const size of plan.sizes) {
      for (const d of live) await attempt(d, () => d.prepare(size, Math.max(...CONCURRENCY)));
      for (const concurrency of CONCURRENCY) {
        for (const op of SAVER_OPS) {
          ctx.log(`  peers: ${op} ${size} c=${concurrency}`);
          const samples = new Map(live.map((d) => [d.name, new Samples()]));
          for (let i = 0; i < plan.steps[concurrency]!; i++) {
            for (const d of rotate(live, i)) {
              const result = await attempt(d, () => d.step(op, size, concurrency));
              if (!result) continue;
              const s = samples.get(d.name)!;
              for (const latency of result.latencies) s.record(latency);
              s.wallMs += result.wallMs;
            }
          }
          const ours = samples.get(MYSQL)!.summary();
          for (const [peer, s] of samples) {
            if (!live.some((d) => d.name === peer)) continue;
            rows.push({ size, concurrency, op, peer, ...s.summary(), ratioToMySQL: ratio(s.summary().p50, ours.p50) });
          }
          const postgres = live.some((d) => d.name === POSTGRES) ? samples.get(POSTGRES)!.summary() : undefined;
          if (postgres && concurrency === 1) targets.push(target(`LangGraph ${op} p50 ${size}, MySQLSaver / PostgresSaver`, ratio(ours.p50, postgres.p50), 1));
        }
      }
    }
  } finally {
    await Promise.all(drivers.map((d) => d.close()));
  }
  for (const line of skipped) ctx.log(`  skipped: ${line}`);
  return {
    title: "Part 2: LangGraph savers, the same checkpoints through put/getTuple",
    ...(skipped.length > 0 && { skipped: skipped.join("; ") }),
    report: [
      "Each put starts a thread of its own, with the whole conversation in its `messages` channel (the long-conversation part measures puts that add a turn); getTuple reads a thread's latest or its first checkpoint by id. " +
        "PostgreSQL 15 runs on the same machine with fsync and synchronous_commit on; SQLite is a file in WAL mode, in a child process (timed there" +
        `${sqliteRestarts() > 0 ? `; it aborted ${sqliteRestarts()} time(s) in better-sqlite3's statement finalizer and was restarted on the same file` : ""}). Pools hold 16 connections.`,
      table(
        ["size", "c", "op", "saver", "p50 ms", "p99 ms", "ops/s", "p50 / MySQLSaver"],
        rows.map((r) => [r.size, r.concurrency, r.op, r.peer, ms(r.p50), ms(r.p99), count(r.opsPerSec), times(r.ratioToMySQL)]),
      ),
    ],
    data: { rows, skipped, sqliteRestarts: sqliteRestarts() },
    targets,
  };
}
