// Part 2: the same LangGraph checkpoints through the one API users switch between: this
// project's MySQLSaver, the PostgreSQL saver on the local server, and the SQLite saver (a file).
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { MySQLSaver } from "../checkpointer/langgraph.js";
import { target, type BenchContext, type PartResult, type Target } from "./context.js";
import { localDriver, SAVER_OPS, type SaverDriver, type SaverOp, type StepResult } from "./saver-driver.js";
import type { Request } from "./sqlite-peer.js";
import type { SizeName } from "./states.js";
import { count, ms, ratio, rotate, Samples, table, times, type Summary } from "./stats.js";

/** pg ships no types and @types/pg is no dependency: the little of it the bench uses. */
interface PgConnection {
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
}
const pg = createRequire(import.meta.url)("pg") as {
  Client: new (options: { connectionString: string }) => PgConnection & { connect(): Promise<void> };
  Pool: new (options: { connectionString: string; max: number }) => PgConnection;
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

async function postgresDriver(url: string): Promise<SaverDriver> {
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
  const saver = new PostgresSaver(pool as never);
  await saver.setup();
  return localDriver(POSTGRES, saver, async () => {
    await pool.end();
    const drop = new pg.Client({ connectionString: url });
    await drop.connect();
    await drop.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => drop.end());
  });
}

/** The SQLite saver in its own process (see sqlite-peer.ts), driven over IPC. */
async function sqliteDriver(): Promise<SaverDriver> {
  const directory = await mkdtemp(join(tmpdir(), "bench-sqlite-"));
  const child = fork(new URL("./sqlite-peer.ts", import.meta.url), [directory], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let next = 0;
  let closing = false;
  child.on("message", ({ id, result, error }: { id: number; result?: unknown; error?: string }) => {
    const call = pending.get(id)!;
    pending.delete(id);
    if (error === undefined) call.resolve(result);
    else call.reject(new Error(error));
  });
  child.on("exit", (code, signal) => {
    if (closing) return;
    for (const call of pending.values()) call.reject(new Error(`its process died (${signal ?? `exit code ${code}`})`));
    pending.clear();
  });
  const request = <T>(call: Request["call"], ...args: unknown[]) =>
    new Promise<T>((resolve, reject) => {
      if (child.exitCode !== null || child.signalCode !== null) return reject(new Error("its process is gone"));
      const id = next++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ id, call, args } satisfies Request);
    });
  return {
    name: SQLITE,
    prepare: (size, workers) => request("prepare", size, workers),
    step: (op, size, workers) => request<StepResult>("step", op, size, workers),
    async close() {
      closing = true;
      // An abort while it tears down costs nothing any more: results are in.
      await request("close").catch(() => undefined);
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** The savers whose servers answer, and a line for each that does not. */
async function openDrivers(ctx: BenchContext): Promise<{ drivers: SaverDriver[]; skipped: string[] }> {
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
  drivers.push(await sqliteDriver());
  return { drivers, skipped };
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
  const { drivers, skipped } = await openDrivers(ctx);
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
      "Each put stores a new checkpoint whose `messages` channel (the whole conversation) changed; getTuple reads a thread's latest or its first checkpoint by id. " +
        "PostgreSQL 15 runs on the same machine with fsync and synchronous_commit on; SQLite is a file in WAL mode, in a child process (timed there). Pools hold 16 connections.",
      table(
        ["size", "c", "op", "saver", "p50 ms", "p99 ms", "ops/s", "p50 / MySQLSaver"],
        rows.map((r) => [r.size, r.concurrency, r.op, r.peer, ms(r.p50), ms(r.p99), count(r.opsPerSec), times(r.ratioToMySQL)]),
      ),
    ],
    data: { rows, skipped },
    targets,
  };
}
