// The long conversation through LangGraph's savers: this project's MySQLSaver and the PostgreSQL
// saver side by side, a turn of each in turn (which goes first alternates), as a graph's loop
// drives them: getTuple of the thread's latest, then put of the next checkpoint, whose
// `messages` channel (the whole conversation) changed.
import type { RunnableConfig } from "@langchain/core/runnables";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import type { RowDataPacket } from "mysql2/promise";
import type { AgentState } from "../app/agent/state.js";
import { MySQLSaver } from "../checkpointer/langgraph/index.js";
import type { BenchContext } from "./context.js";
import { openPostgresSaver } from "./peers.js";
import { nextCheckpoint, type ThreadLog } from "./saver-driver.js";
import { prng, sentence, turn } from "./states.js";
import { rotate, Samples } from "./stats.js";

const THREAD = "long-langgraph";
const PREFIX = "long_";

export interface LongSaverResult {
  name: string;
  puts: Map<number, Samples>;
  gets: Map<number, Samples>;
  /** Bytes of the channel values as the serializer wrote them, and as the table stores them (PostgreSQL compresses large values). */
  blobs: { bytes: number; stored: number };
}

interface Run {
  name: string;
  saver: BaseCheckpointSaver;
  config: RunnableConfig;
  log: ThreadLog;
  puts: Map<number, Samples>;
  gets: Map<number, Samples>;
  blobs: () => Promise<{ bytes: number; stored: number }>;
  close: () => Promise<void>;
}

/** `turns` turns through each saver; p50s over the `window` turns ending at each mark. */
export async function langGraphLong(ctx: BenchContext, turns: number, marks: number[], window: number): Promise<{ savers: LongSaverResult[]; skipped?: string }> {
  const samples = () => new Map(marks.map((m) => [m, new Samples()]));
  const runs: Run[] = [];
  let skipped: string | undefined;
  try {
    const url = new URL(ctx.mysqlUrl);
    url.searchParams.set("table-prefix", PREFIX);
    const mysql = MySQLSaver.fromConnString(url.toString());
    await mysql.setup();
    runs.push({
      name: "MySQLSaver (this project)",
      saver: mysql,
      config: { configurable: { thread_id: THREAD, checkpoint_ns: "" } },
      log: { configs: [], version: undefined },
      puts: samples(),
      gets: samples(),
      blobs: async () => {
        const [[row]] = await mysql.database.pool.query<RowDataPacket[]>(`SELECT COALESCE(SUM(LENGTH(data)), 0) AS bytes FROM \`${PREFIX}lg_blobs\` WHERE thread_id = ?`, [THREAD]);
        return { bytes: Number(row!.bytes), stored: Number(row!.bytes) };
      },
      close: () => mysql.end(),
    });
    try {
      const postgres = await openPostgresSaver(ctx.postgresUrl);
      runs.push({
        name: "PostgresSaver",
        saver: postgres.saver,
        config: { configurable: { thread_id: THREAD, checkpoint_ns: "" } },
        log: { configs: [], version: undefined },
        puts: samples(),
        gets: samples(),
        blobs: async () => {
          const { rows } = await postgres.pool.query(
            "SELECT COALESCE(SUM(octet_length(blob)), 0) AS bytes, COALESCE(SUM(pg_column_size(blob)), 0) AS stored FROM checkpoint_blobs WHERE thread_id = $1",
            [THREAD],
          );
          return { bytes: Number(rows[0]!.bytes), stored: Number(rows[0]!.stored) };
        },
        close: postgres.close,
      });
    } catch (error) {
      skipped = `PostgresSaver: PostgreSQL not available at ${new URL(ctx.postgresUrl).host} (${(error as Error).message})`;
    }

    const random = prng(13);
    let state: AgentState = { messages: [], iteration: 0, metadata: { title: sentence(random, 6) } };
    for (let i = 1; i <= turns; i++) {
      state = { ...state, messages: [...state.messages, ...turn(random, i)], iteration: i };
      const mark = marks.find((m) => i > m - window && i <= m);
      for (const run of rotate(runs, i)) {
        const get = () => run.saver.getTuple(run.config);
        await (mark ? run.gets.get(mark)!.time(get) : get());
        const { checkpoint, versions } = nextCheckpoint(state, run.saver, run.log);
        const put = () => run.saver.put(run.config, checkpoint, { source: "loop", step: i, parents: {} }, versions);
        run.config = await (mark ? run.puts.get(mark)!.time(put) : put());
      }
      if (i % 100 === 0) ctx.log(`  langgraph turn ${i}`);
    }
    const savers: LongSaverResult[] = [];
    for (const run of runs) savers.push({ name: run.name, puts: run.puts, gets: run.gets, blobs: await run.blobs() });
    return { savers, ...(skipped !== undefined && { skipped }) };
  } finally {
    await Promise.all(runs.map((r) => r.close()));
  }
}
