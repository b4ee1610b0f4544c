// Bulk loading of synthetic threads straight into the checkpointer's tables with multi-row
// INSERTs: the scale part needs 10^6 threads, which saving one by one would take hours to make.
// Rows are what `save` would have written, metadata_index included (metadataPairHash), so
// listings, metadata queries and search run on real data.
import { randomUUID } from "node:crypto";
import mysql from "mysql2/promise";
import { metadataPairHash } from "../checkpointer/mysql/backend.js";
import type { TableNames } from "../checkpointer/mysql/schema.js";
import { defaultSearchText, type Metadata } from "../checkpointer/index.js";
import { prng, sentence } from "./states.js";
import type { AgentState } from "../app/agent/state.js";

/** Ten threads per user, ids `u0000042:t3`: a user's prefix, metadata value and search word each match exactly ten threads. */
export const THREADS_PER_USER = 10;
const CHANNELS = ["web", "slack", "email"];
const THREAD_ROWS_PER_INSERT = 2000;
const CHECKPOINT_ROWS_PER_INSERT = 1000;

export const userName = (user: number) => `u${String(user).padStart(7, "0")}`;
export const threadName = (i: number) => `${userName(Math.floor(i / THREADS_PER_USER))}:t${i % THREADS_PER_USER}`;
/** A word only the user's threads contain (full-text tokens need 3+ characters and no stopword). */
export const userWord = (user: number) => `acct${user}`;

export interface ThreadShape {
  /** Checkpoints in the thread's history (the last one is its latest). */
  checkpoints: number;
  /** When the thread's latest checkpoint was saved. */
  updatedAt: Date;
  /** How long before the latest the older checkpoints were saved, each one `spacingMs` apart. */
  spacingMs: number;
}

/** A small Locus-shaped state after `turns` turns of thread `i`: a user question naming the user's word, an answer. */
function smallState(i: number, turns: number, title: string): AgentState {
  const random = prng(i + 1);
  const word = userWord(Math.floor(i / THREADS_PER_USER));
  const messages: AgentState["messages"] = [];
  for (let t = 0; t < turns; t++) {
    messages.push({ role: "user", content: `${sentence(random, 8)} ${word}` }, { role: "assistant", content: sentence(random, 10) });
  }
  return { messages, iteration: turns, metadata: { title } };
}

type Value = string | number | Date | null;

/**
 * Loads threads `from` … `to - 1` (ids from `threadName`) into the tables, shaped by `shape(i)`.
 * Two connections take turns so the next batch is built while the last one is written. The
 * loader's session skips the binary log when allowed (a throwaway database; gigabytes of binlog
 * would only fill the disk) and unique checks (the ids are unique by construction).
 */
export async function bulkLoad(url: string, tables: TableNames, from: number, to: number, shape: (i: number) => ThreadShape): Promise<void> {
  const conns = await Promise.all([0, 1].map(() => mysql.createConnection(url)));
  try {
    for (const conn of conns) {
      await conn.query("SET SESSION unique_checks = 0");
      await conn.query("SET SESSION sql_log_bin = 0").catch(() => undefined);
    }
    const inFlight: (Promise<unknown> | undefined)[] = [undefined, undefined];
    let turn = 0;
    const send = async (sql: string, rows: Value[][]) => {
      const slot = turn++ % 2;
      await inFlight[slot];
      inFlight[slot] = conns[slot]!.query(sql, [rows]);
    };
    const threadSql = `INSERT INTO \`${tables.threads}\`
  (thread_id, next_seq, latest_seq, latest_checkpoint_id, parent_checkpoint_id, updated_at, expires_at, metadata, metadata_index) VALUES ?`;
    const checkpointSql = `INSERT INTO \`${tables.checkpoints}\`
  (thread_id, seq, checkpoint_id, parent_checkpoint_id, created_at, expires_at, metadata, state, search_text) VALUES ?`;
    const channelHashes = CHANNELS.map((c) => metadataPairHash("channel", c));
    let threadRows: Value[][] = [];
    let checkpointRows: Value[][] = [];
    for (let i = from; i < to; i++) {
      const thread = threadName(i);
      const { checkpoints, updatedAt, spacingMs } = shape(i);
      const user = userName(Math.floor(i / THREADS_PER_USER));
      const title = `Thread ${i} of ${user}`;
      const metadata: Metadata = { user, channel: CHANNELS[i % CHANNELS.length]!, title };
      const metadataText = JSON.stringify(metadata);
      let parent: string | null = null;
      let grandparent: string | null = null;
      for (let seq = 1; seq <= checkpoints; seq++) {
        const id = randomUUID();
        const state = smallState(i, seq, title);
        const createdAt = new Date(updatedAt.getTime() - (checkpoints - seq) * spacingMs);
        checkpointRows.push([thread, seq, id, parent, createdAt, null, metadataText, JSON.stringify(state), defaultSearchText(state)]);
        grandparent = parent;
        parent = id;
      }
      const hashes = [metadataPairHash("user", user), channelHashes[i % CHANNELS.length]!, metadataPairHash("title", title)];
      threadRows.push([thread, checkpoints + 1, checkpoints, parent, grandparent, updatedAt, null, metadataText, JSON.stringify(hashes)]);
      if (threadRows.length >= THREAD_ROWS_PER_INSERT) {
        await send(threadSql, threadRows);
        threadRows = [];
      }
      if (checkpointRows.length >= CHECKPOINT_ROWS_PER_INSERT) {
        await send(checkpointSql, checkpointRows);
        checkpointRows = [];
      }
    }
    if (threadRows.length > 0) await send(threadSql, threadRows);
    if (checkpointRows.length > 0) await send(checkpointSql, checkpointRows);
    await Promise.all(inFlight);
  } finally {
    await Promise.all(conns.map((c) => c.end()));
  }
}
