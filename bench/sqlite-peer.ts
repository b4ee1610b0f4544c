// The SQLite saver in a child process (forked by peers.ts and sqlite.ts). better-sqlite3 12 on
// Node 24 can abort the whole process when the GC finalizes a statement ("Assertion failed: (env)
// != nullptr" in RemoveEnvironmentCleanupHook); here an abort costs this peer only, and the
// parent starts a new one on the same file. Requests arrive over IPC and each operation is timed
// in this process, so IPC is not part of its latency.
import { join } from "node:path";
import type { RunnableConfig } from "@langchain/core/runnables";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import type { AgentState, Message } from "../app/agent/state.js";
import { localDriver, nextCheckpoint, type ThreadLog } from "./saver-driver.js";

export interface Request {
  id: number;
  call: "prepare" | "step" | "close" | "longTurn" | "longResume" | "settings";
  args: unknown[];
}

/** What one turn of the long conversation cost here: getTuple of the last checkpoint, then put of the next. */
export interface LongTurnResult {
  getMs: number;
  putMs: number;
}

const LONG_THREAD = "long-sqlite";

const directory = process.argv[2]!;
const saver = SqliteSaver.fromConnString(join(directory, "checkpoints.db"));
// SqliteSaver prepares a new statement at every put, and the GC finalizing those is what aborts
// (above): once a conversation's puts are large, every few dozen turns. Statements are kept by
// their SQL text instead, so none is finalized. It spares the saver the (small) cost of preparing
// its INSERT at each put: if anything, its times are flattered.
const prepare = saver.db.prepare.bind(saver.db);
const statements = new Map<string, ReturnType<typeof prepare>>();
saver.db.prepare = ((source: string) => statements.get(source) ?? statements.set(source, prepare(source)).get(source)!) as typeof saver.db.prepare;
const driver = localDriver("SqliteSaver (file)", saver, async () => saver.db.close());

/**
 * One long conversation, as langGraphLong (long-langgraph.ts) drives a saver: the parent sends
 * each turn's new messages (the same ones its own store gets), this process keeps the state.
 */
const start: RunnableConfig = { configurable: { thread_id: LONG_THREAD, checkpoint_ns: "" } };
const long: { state: AgentState; config: RunnableConfig; log: ThreadLog } = {
  state: { messages: [], iteration: 0, metadata: {} },
  config: start,
  log: { configs: [], version: undefined },
};

/** The database settings a comparison depends on, as this connection has them. */
export interface SaverSettings {
  journalMode: string;
  synchronous: number;
  sqlite: string;
}

const calls = {
  ...driver,
  async settings(): Promise<SaverSettings> {
    const db = saver.db;
    return {
      journalMode: String(db.pragma("journal_mode", { simple: true })),
      synchronous: Number(db.pragma("synchronous", { simple: true })),
      sqlite: String(db.prepare("SELECT sqlite_version()").pluck().get()),
    };
  },
  async longTurn(added: Message[], title: string): Promise<LongTurnResult> {
    const iteration = long.state.iteration + 1;
    long.state = { messages: [...long.state.messages, ...added], iteration, metadata: { title } };
    let t = performance.now();
    await saver.getTuple(long.config);
    const getMs = performance.now() - t;
    // SqliteSaver's put takes no channel versions: it writes every channel value into the checkpoint's row.
    const { checkpoint } = nextCheckpoint(long.state, saver, long.log);
    t = performance.now();
    long.config = await saver.put(long.config, checkpoint, { source: "loop", step: iteration, parents: {} });
    return { getMs, putMs: performance.now() - t };
  },
  /** After a restart (an abort, see above): the conversation so far, and the thread's latest checkpoint to go on from. */
  async longResume(messages: Message[], iteration: number, title: string): Promise<void> {
    long.state = { messages, iteration, metadata: { title } };
    const tuple = await saver.getTuple(start);
    long.config = tuple?.config ?? start;
    long.log.version = tuple?.checkpoint.channel_versions.messages;
  },
};

process.on("message", async ({ id, call, args }: Request) => {
  try {
    const result = await (calls[call] as (...a: unknown[]) => Promise<unknown>)(...args);
    process.send!({ id, result });
    if (call === "close") process.disconnect();
  } catch (error) {
    process.send!({ id, error: String(error) });
  }
});
