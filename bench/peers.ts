// Part 2: the same LangGraph checkpoints through the one API users switch between: this
// project's MySQLSaver, the PostgreSQL saver on the local server, and the SQLite saver (a file).
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunnableConfig } from "@langchain/core/runnables";
import { emptyCheckpoint, uuid6, type BaseCheckpointSaver, type Checkpoint } from "@langchain/langgraph-checkpoint";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { MySQLSaver } from "../checkpointer/langgraph.js";
import { target, type BenchContext, type PartResult, type Target } from "./context.js";
import { makeState, SIZES, type BenchState, type SizeName } from "./states.js";
import { count, ms, ratio, rotate, runConcurrently, Samples, table, times, type Summary } from "./stats.js";

/** pg ships no types and @types/pg is no dependency: the little of it the bench uses. */
interface PgConnection {
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
}
const pg = createRequire(import.meta.url)("pg") as {
  Client: new (options: { connectionString: string }) => PgConnection & { connect(): Promise<void> };
  Pool: new (options: { connectionString: string; max: number }) => PgConnection;
};

const OPS = ["put", "getTuple latest", "getTuple by id"] as const;
type Op = (typeof OPS)[number];

interface PeersPlan {
  sizes: SizeName[];
  serial: number;
  rounds: number;
}
const FULL: PeersPlan = { sizes: ["1KB", "100KB"], serial: 200, rounds: 20 };
const QUICK: PeersPlan = { sizes: ["1KB"], serial: 30, rounds: 2 };
const CONCURRENCY = [1, 16] as const;
const MYSQL = "MySQLSaver (this project)";
const POSTGRES = "PostgresSaver";

interface Peer {
  name: string;
  saver: BaseCheckpointSaver;
  close(): Promise<void>;
}

/** A worker's thread: the checkpoints it put, newest last, and the channel versions it reached. */
interface ThreadLog {
  configs: RunnableConfig[];
  version: unknown;
}

/** The agent state as a graph's channels: the conversation in `messages` (which changes every step), the rest small. */
function checkpointOf(state: BenchState, saver: BaseCheckpointSaver, log: ThreadLog): { checkpoint: Checkpoint; versions: Record<string, number | string> } {
  const version = saver.getNextVersion(log.version as never) as number | string;
  log.version = version;
  const checkpoint: Checkpoint = {
    ...emptyCheckpoint(),
    id: uuid6(-1),
    ts: new Date().toISOString(),
    channel_values: { messages: state.messages, iteration: state.iteration, title: state.metadata.title },
    channel_versions: { messages: version, iteration: version, title: version },
    versions_seen: { agent: { messages: version } },
  };
  return { checkpoint, versions: { messages: version, iteration: version } };
}

function operations(peer: Peer, state: BenchState, threads: Map<number, ThreadLog>, size: SizeName): Record<Op, (w: number) => Promise<unknown>> {
  const thread = (w: number) => ({ thread_id: `${size}-${w}`, checkpoint_ns: "" });
  const log = (w: number) => threads.get(w) ?? threads.set(w, { configs: [], version: undefined }).get(w)!;
  return {
    put: async (w) => {
      const l = log(w);
      const { checkpoint, versions } = checkpointOf(state, peer.saver, l);
      const parent = l.configs.at(-1) ?? { configurable: thread(w) };
      l.configs.push(await peer.saver.put(parent, checkpoint, { source: "loop", step: l.configs.length, parents: {} }, versions));
    },
    "getTuple latest": (w) => peer.saver.getTuple({ configurable: thread(w) }),
    "getTuple by id": (w) => peer.saver.getTuple(log(w).configs[0]!),
  };
}

async function postgresPeer(url: string): Promise<Peer> {
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
  return {
    name: POSTGRES,
    saver,
    async close() {
      await pool.end();
      const drop = new pg.Client({ connectionString: url });
      await drop.connect();
      await drop.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => drop.end());
    },
  };
}

/** The peers whose servers answer, and a line for each that does not. */
async function openPeers(ctx: BenchContext): Promise<{ peers: Peer[]; skipped: string[] }> {
  const peers: Peer[] = [];
  const skipped: string[] = [];
  const url = new URL(ctx.mysqlUrl);
  url.searchParams.set("table-prefix", "peer_");
  url.searchParams.set("connection-limit", "16");
  const mysql = MySQLSaver.fromConnString(url.toString());
  await mysql.setup();
  peers.push({ name: MYSQL, saver: mysql, close: () => mysql.end() });
  try {
    peers.push(await postgresPeer(ctx.postgresUrl));
  } catch (error) {
    skipped.push(`${POSTGRES}: PostgreSQL not available at ${new URL(ctx.postgresUrl).host} (${(error as Error).message})`);
  }
  const directory = await mkdtemp(join(tmpdir(), "bench-sqlite-"));
  const sqlite = SqliteSaver.fromConnString(join(directory, "checkpoints.db"));
  peers.push({
    name: "SqliteSaver (file)",
    saver: sqlite,
    async close() {
      sqlite.db.close();
      await rm(directory, { recursive: true, force: true });
    },
  });
  return { peers, skipped };
}

interface PeerRow extends Summary {
  size: SizeName;
  concurrency: number;
  op: Op;
  peer: string;
  ratioToMySQL: number;
}

export async function runPeers(ctx: BenchContext): Promise<PartResult> {
  const plan = ctx.quick ? QUICK : FULL;
  const { peers, skipped } = await openPeers(ctx);
  for (const line of skipped) ctx.log(`  skipped: ${line}`);
  const rows: PeerRow[] = [];
  const targets: Target[] = [];
  try {
    for (const size of plan.sizes) {
      const state = makeState(SIZES[size]);
      const logs = new Map(peers.map((p) => [p.name, new Map<number, ThreadLog>()]));
      const ops = new Map(peers.map((p) => [p.name, operations(p, state, logs.get(p.name)!, size)]));
      // Two checkpoints in each worker's thread before anything is read.
      for (const p of peers) for (let w = 0; w < 16; w++) for (let k = 0; k < 2; k++) await ops.get(p.name)!.put(w);
      for (const concurrency of CONCURRENCY) {
        for (const op of OPS) {
          ctx.log(`  peers: ${op} ${size} c=${concurrency}`);
          const samples = new Map(peers.map((p) => [p.name, new Samples()]));
          if (concurrency === 1) {
            for (let i = 0; i < plan.serial; i++) for (const p of rotate(peers, i)) await samples.get(p.name)!.time(() => ops.get(p.name)![op](0));
          } else {
            for (let round = 0; round < plan.rounds; round++) {
              for (const p of rotate(peers, round)) {
                const s = samples.get(p.name)!;
                const start = performance.now();
                await runConcurrently(concurrency, concurrency, async (w) => {
                  const t = performance.now();
                  await ops.get(p.name)![op](w);
                  s.record(performance.now() - t);
                });
                s.wallMs += performance.now() - start;
              }
            }
          }
          const ours = samples.get(MYSQL)!.summary();
          for (const [peer, s] of samples) rows.push({ size, concurrency, op, peer, ...s.summary(), ratioToMySQL: ratio(s.summary().p50, ours.p50) });
          const postgres = samples.get(POSTGRES)?.summary();
          if (postgres && concurrency === 1) targets.push(target(`LangGraph ${op} p50 ${size}, MySQLSaver / PostgresSaver`, ratio(ours.p50, postgres.p50), 1));
        }
      }
    }
  } finally {
    await Promise.all(peers.map((p) => p.close()));
  }
  return {
    title: "Part 2: LangGraph savers, the same checkpoints through put/getTuple",
    ...(skipped.length > 0 && { skipped: skipped.join("; ") }),
    report: [
      "Each put stores a new checkpoint whose `messages` channel (the whole conversation) changed; getTuple reads a thread's latest or its first checkpoint by id. " +
        "PostgreSQL 15 runs on the same machine with fsync and synchronous_commit on; SQLite is a file in WAL mode. Pools hold 16 connections.",
      table(
        ["size", "c", "op", "saver", "p50 ms", "p99 ms", "ops/s", "p50 / MySQLSaver"],
        rows.map((r) => [r.size, r.concurrency, r.op, r.peer, ms(r.p50), ms(r.p99), count(r.opsPerSec), times(r.ratioToMySQL)]),
      ),
    ],
    data: { rows, skipped },
    targets,
  };
}
