// Part "storage": what one conversation stores on each database, written by one app process or by
// two replicas taking turns (as behind a round-robin balancer), one of them restarted halfway.
// Every turn runs in a separate process (turn-worker.ts) the way the app does it: the latest
// checkpoint's id, that checkpoint loaded by id, a save naming it as the parent. A save after a
// load of its parent is a delta, whichever process saved the parent.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import mysql from "mysql2/promise";
import { mysqlCheckpointer, SQLiteCheckpointer, type Checkpointer } from "../checkpointer/index.js";
import type { AgentState } from "../app/agent/state.js";
import { forkChild, type Child } from "./child.js";
import { benchConfig, target, type BenchContext, type PartResult, type Target } from "./context.js";
import { openSqlite, sqliteFileBytes } from "./sqlite.js";
import { nextState, prng, sentence, turn } from "./states.js";
import { count, ms, ratio, Samples, table, times, type Summary } from "./stats.js";
import type { TurnCall, TurnResult } from "./turn-worker.js";

const THREAD = "storage-conversation";
const FULL = { turns: 500 };
const QUICK = { turns: 40 };
/** The target's bound: pages in use ≤ 4× the final conversation's JSON. */
const LIMIT = 4;

const MODES = ["one process", "two replicas, one restarted"] as const;
type Mode = (typeof MODES)[number];
type Store = "MySQL" | "SQLite";

interface Stored {
  /** What the database holds for the conversation (MySQL: DATA_LENGTH + INDEX_LENGTH; SQLite: the file's pages). */
  bytes: number;
  /** How it breaks down, for the report. */
  detail: string;
  /** The files on disk: MySQL's tablespaces of the two tables and of the FULLTEXT index's auxiliary tables; SQLite's file. */
  files: number;
  rows: number;
  snapshots: number;
  documents: number;
  text: number;
}

interface RunRow {
  store: Store;
  mode: Mode;
  turns: number;
  finalBytes: number;
  stored: Stored;
  ratio: number;
  load: Summary;
  save: Summary;
  processes: number;
}

/** A replica: turn-worker.ts in a process of its own, on `spec`. */
function forkReplica(spec: string): Child<TurnCall> {
  return forkChild(new URL("./turn-worker.ts", import.meta.url), [spec], "a replica's process");
}

async function closeReplica(replica: Child<TurnCall>): Promise<void> {
  await replica.request("close");
  await replica.died;
}

/**
 * `turns` turns on one thread through `spec`: one process for all, or two taking turns, the
 * second closed and replaced by a new process halfway. Returns the conversation as it should be
 * stored, and each turn's load and save latency (timed in the replicas).
 */
async function drive(spec: string, mode: Mode, turns: number) {
  const random = prng(23);
  const title = sentence(random, 6);
  let expected: AgentState = { messages: [], iteration: 0, metadata: { title } };
  const replicas = mode === "one process" ? [forkReplica(spec)] : [forkReplica(spec), forkReplica(spec)];
  let processes = replicas.length;
  const loads = new Samples();
  const saves = new Samples();
  try {
    for (let i = 1; i <= turns; i++) {
      if (replicas.length === 2 && i === Math.floor(turns / 2) + 1) {
        await closeReplica(replicas[1]!);
        replicas[1] = forkReplica(spec);
        processes++;
      }
      const added = turn(random, i);
      const result = await replicas[(i - 1) % replicas.length]!.request<TurnResult>("turn", THREAD, added, title);
      expected = nextState(expected, added);
      if (i > 1) loads.record(result.loadMs);
      saves.record(result.saveMs);
    }
  } finally {
    await Promise.all(replicas.map((r) => closeReplica(r).catch(() => undefined)));
  }
  return { expected, loads, saves, processes };
}

/** The failures of a run: the conversation must load exactly as written, with one row per turn. */
async function verify(cp: Checkpointer<AgentState>, expected: AgentState, what: string): Promise<string[]> {
  const loaded = await cp.load(THREAD);
  return isDeepStrictEqual(loaded, expected) ? [] : [`${what}: the conversation does not load as it was written`];
}

async function mysqlRun(ctx: BenchContext, mode: Mode, turns: number, prefix: string): Promise<{ row: RunRow; failures: string[] }> {
  const cp = mysqlCheckpointer<AgentState>(benchConfig(ctx.mysqlUrl, prefix));
  await cp.backend.ensureSchema();
  const url = new URL(ctx.mysqlUrl);
  url.searchParams.set("table-prefix", prefix);
  const run = await drive(url.toString(), mode, turns);
  const what = `MySQL, ${mode}`;
  let failures: string[];
  try {
    failures = await verify(cp, run.expected, what);
  } finally {
    await cp.close();
  }
  const t = cp.backend.tables;
  const conn = await mysql.createConnection(ctx.mysqlUrl);
  let stored: Stored;
  try {
    // information_schema caches table statistics for a day by default; ANALYZE TABLE refreshes them.
    await conn.query("SET SESSION information_schema_stats_expiry = 0");
    await conn.query(`ANALYZE TABLE \`${t.threads}\`, \`${t.checkpoints}\``);
    const [tables] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT TABLE_NAME AS name, DATA_LENGTH AS data, INDEX_LENGTH AS idx, DATA_FREE AS free FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?, ?)",
      [t.threads, t.checkpoints],
    );
    const [[rows]] = await conn.query<mysql.RowDataPacket[]>(
      `SELECT COUNT(*) AS n, SUM(base_seq IS NULL) AS snapshots, SUM(LENGTH(state)) AS documents, SUM(LENGTH(search_text)) AS text FROM \`${t.checkpoints}\` WHERE thread_id = ?`,
      [THREAD],
    );
    // File-per-table tablespaces: the two tables' own, and the FULLTEXT index's auxiliary tables (named after the table's id).
    const [[files]] = await conn.query<mysql.RowDataPacket[]>(
      `SELECT COALESCE(SUM(s.ALLOCATED_SIZE), 0) AS bytes FROM information_schema.INNODB_TABLESPACES s
       WHERE s.NAME IN (CONCAT(DATABASE(), '/', ?), CONCAT(DATABASE(), '/', ?))
          OR s.NAME LIKE CONCAT(DATABASE(), '/fts_', (SELECT LPAD(LOWER(HEX(TABLE_ID)), 16, '0') FROM information_schema.INNODB_TABLES WHERE NAME = CONCAT(DATABASE(), '/', ?)), '%')`,
      [t.threads, t.checkpoints, t.checkpoints],
    );
    const bytes = tables.reduce((n, r) => n + Number(r.data) + Number(r.idx), 0);
    const detail = tables.map((r) => `${String(r.name).slice(prefix.length)} ${kb(Number(r.data))} + ${kb(Number(r.idx))}, ${kb(Number(r.free))} free`).join("; ");
    stored = { bytes, detail, files: Number(files!.bytes), rows: Number(rows!.n), snapshots: Number(rows!.snapshots), documents: Number(rows!.documents), text: Number(rows!.text) };
  } finally {
    await conn.end();
  }
  return { row: row("MySQL", mode, turns, run, stored), failures: [...failures, ...rowCount(stored, turns, what)] };
}

async function sqliteRun(mode: Mode, turns: number, path: string): Promise<{ row: RunRow; failures: string[] }> {
  const run = await drive(`sqlite:${path}`, mode, turns);
  const what = `SQLite, ${mode}`;
  const cp = new SQLiteCheckpointer<AgentState>({ path });
  let failures: string[];
  try {
    failures = await verify(cp, run.expected, what);
  } finally {
    await cp.close();
  }
  const file = sqliteFileBytes(path);
  const db = openSqlite(path);
  let rows: Record<string, unknown>;
  try {
    rows = db.prepare("SELECT COUNT(*) AS n, SUM(base_seq IS NULL) AS snapshots, SUM(length(state)) AS documents, SUM(length(search_text)) AS text FROM checkpoints WHERE thread_id = ?").get(THREAD)!;
  } finally {
    db.close();
  }
  const stored: Stored = {
    bytes: file.bytes,
    detail: `${count(file.pages)} pages of ${count(file.pageSize)} B, ${count(file.freePages)} free`,
    files: file.bytes,
    rows: Number(rows.n),
    snapshots: Number(rows.snapshots),
    documents: Number(rows.documents),
    text: Number(rows.text),
  };
  return { row: row("SQLite", mode, turns, run, stored), failures: [...failures, ...rowCount(stored, turns, what)] };
}

function row(store: Store, mode: Mode, turns: number, run: Awaited<ReturnType<typeof drive>>, stored: Stored): RunRow {
  const finalBytes = Buffer.byteLength(JSON.stringify(run.expected));
  return { store, mode, turns, finalBytes, stored, ratio: ratio(stored.bytes, finalBytes), load: run.loads.summary(), save: run.saves.summary(), processes: run.processes };
}

function rowCount(stored: Stored, turns: number, what: string): string[] {
  return stored.rows === turns ? [] : [`${what}: ${stored.rows} checkpoint rows for ${turns} turns`];
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;

export async function runStorage(ctx: BenchContext): Promise<PartResult> {
  const { turns } = ctx.quick ? QUICK : FULL;
  const directory = await mkdtemp(join(tmpdir(), "bench-storage-"));
  const rows: RunRow[] = [];
  const failures: string[] = [];
  try {
    for (const [i, mode] of MODES.entries()) {
      ctx.log(`  storage: MySQL, ${mode}, ${turns} turns`);
      const m = await mysqlRun(ctx, mode, turns, `storage${i + 1}_`);
      ctx.log(`  storage: SQLite, ${mode}, ${turns} turns`);
      const s = await sqliteRun(mode, turns, join(directory, `storage${i + 1}.db`));
      for (const r of [m, s]) {
        rows.push(r.row);
        failures.push(...r.failures);
      }
    }
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
  rows.sort((a, b) => a.store.localeCompare(b.store));
  const targets: Target[] = rows.map((r) =>
    target(`${r.store} pages in use / final JSON (${kb(r.finalBytes)}), ${r.turns} turns, ${r.mode}`, r.ratio, LIMIT),
  );
  return {
    title: "Part storage: one conversation's storage, one process against two replicas taking turns",
    report: [
      `One thread of ${count(turns)} turns (about 1 KB each). Every turn runs in a replica process (turn-worker.ts) as the app runs it: the thread's latest checkpoint id, ` +
        "that checkpoint loaded by id, the turn appended, and a save naming it as the parent. \"one process\": one replica takes every turn. " +
        "\"two replicas\": two processes, each with its own pool or connection, take turns (odd turns, even turns), and the second is closed and replaced by a new process halfway. " +
        "MySQL: `DATA_LENGTH + INDEX_LENGTH` of the threads and checkpoints tables from information_schema.TABLES after `ANALYZE TABLE` (pages InnoDB allocated to their indexes, " +
        "at least 16 KB per index however small, and whole 1 MB extents once an index passes 32 pages); \"free\" is DATA_FREE, extents the table's file holds for later. " +
        "Files on disk (not the target's measure) are the tablespaces' allocated sizes: InnoDB grows a table's file by several extents at a time, and the FULLTEXT index keeps eleven auxiliary tables of 112 KB or more each, whose words InnoDB holds in its cache until a sync. " +
        "SQLite: `page_count × page_size` of the whole file after `PRAGMA wal_checkpoint(TRUNCATE)`. Load and save are p50 over the turns, timed in the replicas.",
      table(
        ["store", "mode", "processes", "final JSON", "rows / snapshots", "documents + search text", "pages in use", "× final JSON", "where (data + index)", "files on disk", "load p50 ms", "save p50 ms"],
        rows.map((r) => [
          r.store,
          r.mode,
          r.processes,
          count(r.finalBytes),
          `${count(r.stored.rows)} / ${count(r.stored.snapshots)}`,
          `${count(r.stored.documents)} + ${count(r.stored.text)}`,
          count(r.stored.bytes),
          times(r.ratio),
          r.stored.detail,
          `${count(r.stored.files)} (${times(ratio(r.stored.files, r.finalBytes))})`,
          ms(r.load.p50),
          ms(r.save.p50),
        ]),
      ),
    ],
    data: { turns, rows },
    targets,
    failures,
  };
}
