// Part "sqlite": the embedded store (SQLiteCheckpointer on Node's node:sqlite) against the same
// bytes through raw node:sqlite on the same settings, beside LangGraph's SqliteSaver
// (better-sqlite3, in a child process: see sqlite-peer.ts); then one long conversation through
// the store and the saver side by side.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { SQLiteCheckpointer } from "../checkpointer/index.js";
import type { AgentState, Message } from "../app/agent/state.js";
import { ChildDied, type Child } from "./child.js";
import { target, type BenchContext, type PartResult, type Target } from "./context.js";
import { encodingCost } from "./long-conversation.js";
import { checkpointerContender, errorFailures, measure, OPS, type Contender, type Measured, type Op, type Plan } from "./ops.js";
import { forkSqlitePeer, MAX_SQLITE_RESTARTS, sqliteDriver } from "./peers.js";
import type { SaverOp, SaverDriver } from "./saver-driver.js";
import type { LongTurnResult, Request, SaverSettings } from "./sqlite-peer.js";
import { makeState, nextState, prng, sentence, SIZES, turn, type SizeName } from "./states.js";
import { count, ms, ratio, rotate, Samples, table, times } from "./stats.js";

const RAW = "raw node:sqlite";
const RAW_JSON = "raw + JSON";
const SQLITE = "sqlite";
const SQLITE_NO_SEARCH = "sqlite, no search text";
const SAVER = "SqliteSaver (file)";
const SAVER_OP: Record<Op, SaverOp> = { save: "put", loadLatest: "getTuple latest", loadById: "getTuple by id" };

const NO_ROUNDS = { "1KB": 0, "100KB": 0, "1MB": 0 };
const FULL_OPS: Plan = { sizes: ["1KB", "100KB", "1MB"], serial: { "1KB": 400, "100KB": 200, "1MB": 50 }, rounds: NO_ROUNDS };
const QUICK_OPS: Plan = { sizes: ["1KB", "100KB"], serial: { "1KB": 40, "100KB": 20, "1MB": 0 }, rounds: NO_ROUNDS };
/** Sizes whose loads the targets hold to the raw SELECT (1 MB is shown, not held: see the MySQL ops part). */
const LOAD_TARGET_SIZES: SizeName[] = ["1KB", "100KB"];

interface LongPlan {
  turns: number;
  marks: number[];
}
const FULL_LONG: LongPlan = { turns: 1000, marks: [10, 100, 1000] };
const QUICK_LONG: LongPlan = { turns: 100, marks: [10, 100] };
/** p50s are taken over the `WINDOW` turns ending at each mark. */
const WINDOW = 10;
const RAW_REPS = 40;
const THREAD = "long-conversation";

/**
 * A file database as every contender here has it: WAL and SQLite's default `synchronous` (FULL),
 * which is all SQLiteCheckpointer sets (sqlite/database.ts), with the same busy timeout.
 */
export function openSqlite(path: string): DatabaseSync {
  const db = new DatabaseSync(path, { timeout: 5_000 });
  db.exec("PRAGMA journal_mode = WAL");
  return db;
}

/** What a SQLite file holds: its pages after the WAL is folded in (no connection may be open). */
export function sqliteFileBytes(path: string): { bytes: number; pages: number; pageSize: number; freePages: number } {
  const db = openSqlite(path);
  try {
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const pragma = (name: string) => Number(Object.values(db.prepare(`PRAGMA ${name}`).get()!)[0]);
    const pages = pragma("page_count");
    const pageSize = pragma("page_size");
    return { bytes: pages * pageSize, pages, pageSize, freePages: pragma("freelist_count") };
  } finally {
    db.close();
  }
}

/** A BLOB column's value as a Buffer, without a copy. */
const asBuffer = (value: unknown) => {
  const bytes = value as Uint8Array;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
};

/**
 * The ceiling: the state's serialised bytes in one INSERT in its own transaction (BEGIN IMMEDIATE
 * … COMMIT, as the store's save), and one primary-key SELECT. With `json`, the floor for any store
 * that takes and returns objects: JSON.stringify before the INSERT, JSON.parse after the SELECT.
 */
function rawContender(db: DatabaseSync, state: AgentState, size: SizeName, json: boolean): Contender {
  const document = Buffer.from(JSON.stringify(state));
  const name = json ? RAW_JSON : RAW;
  const insert = db.prepare("INSERT INTO raw (thread_id, seq, checkpoint_id, state) VALUES (?, ?, ?, ?)");
  const select = db.prepare("SELECT state FROM raw WHERE thread_id = ? AND seq = ?");
  const thread = (kind: string) => `${name}-${kind}-${size}`;
  let seq = 0;
  const write = (threadId: string, s: number, bytes: Buffer) => {
    db.exec("BEGIN IMMEDIATE");
    try {
      insert.run(threadId, s, `c${s}`, bytes);
      db.exec("COMMIT");
    } catch (error) {
      db.exec("ROLLBACK");
      throw error;
    }
  };
  const read = (s: number) => {
    const bytes = asBuffer(select.get(thread("load"), s)!.state);
    return json ? JSON.parse(bytes.toString("utf8")) : bytes;
  };
  return {
    name,
    async prepare() {
      write(thread("load"), 1, document);
      write(thread("load"), 2, document);
    },
    run: {
      save: async () => write(thread("save"), ++seq, json ? Buffer.from(JSON.stringify(state)) : document),
      loadLatest: async () => read(2),
      loadById: async () => read(1),
    },
  };
}

/** LangGraph's SqliteSaver as a contender: put for save, getTuple for the loads, timed in its process. */
function saverContender(driver: SaverDriver, size: SizeName): Contender {
  const step = (op: Op) => async () => (await driver.step(SAVER_OP[op], size, 1)).latencies[0]!;
  return {
    name: SAVER,
    timesItself: true,
    prepare: (workers) => driver.prepare(size, workers),
    run: { save: step("save"), loadLatest: step("loadLatest"), loadById: step("loadById") },
  };
}

interface OpRow extends Measured {
  size: SizeName;
  bytes: number;
  op: Op;
  contender: string;
  p50Ratio: number;
  p50FloorRatio: number;
}

export async function runSqlite(ctx: BenchContext): Promise<PartResult> {
  const directory = await mkdtemp(join(tmpdir(), "bench-sqlite-part-"));
  const rawDb = openSqlite(join(directory, "raw.db"));
  rawDb.exec("CREATE TABLE raw (thread_id TEXT NOT NULL, seq INTEGER NOT NULL, checkpoint_id TEXT NOT NULL, state BLOB NOT NULL, PRIMARY KEY (thread_id, seq))");
  const settings = {
    journalMode: String(Object.values(rawDb.prepare("PRAGMA journal_mode").get()!)[0]),
    synchronous: Number(Object.values(rawDb.prepare("PRAGMA synchronous").get()!)[0]),
    sqlite: String(Object.values(rawDb.prepare("SELECT sqlite_version()").get()!)[0]),
  };
  const skipped: string[] = [];
  const failures: string[] = [];
  const targets: Target[] = [];
  try {
    const ops = await opsVersusRaw(ctx, directory, rawDb, skipped, failures, targets);
    ctx.log("  sqlite: one long conversation through the store and SqliteSaver");
    const long = await longConversation(ctx, directory, rawDb, targets);
    return report(settings, ops, long, skipped, failures, targets);
  } finally {
    rawDb.close();
    await rm(directory, { recursive: true, force: true });
  }
}

async function opsVersusRaw(ctx: BenchContext, directory: string, rawDb: DatabaseSync, skipped: string[], failures: string[], targets: Target[]) {
  const plan = ctx.quick ? QUICK_OPS : FULL_OPS;
  const sqlite = new SQLiteCheckpointer<AgentState>({ path: join(directory, "sqlite.db") });
  const sqliteNoSearch = new SQLiteCheckpointer<AgentState>({ path: join(directory, "sqlite-no-search.db"), searchText: () => "" });
  const driver = await sqliteDriver();
  let saverSettings: SaverSettings | undefined;
  let saverAlive = true;
  const rows: OpRow[] = [];
  try {
    for (const size of plan.sizes) {
      const state = makeState(SIZES[size]);
      const bytes = Buffer.byteLength(JSON.stringify(state));
      const contenders = [
        rawContender(rawDb, state, size, false),
        rawContender(rawDb, state, size, true),
        checkpointerContender(SQLITE, sqlite, state, size),
        checkpointerContender(SQLITE_NO_SEARCH, sqliteNoSearch, state, size),
      ];
      if (saverAlive) {
        try {
          const saver = saverContender(driver, size);
          await saver.prepare(1);
          contenders.push(saver);
        } catch (error) {
          saverAlive = false;
          skipped.push(`${SAVER}: failed to prepare ${size}, ${(error as Error).message}`);
        }
      }
      for (const c of contenders.filter((c) => c.name !== SAVER)) await c.prepare(1);
      saverSettings ??= saverAlive ? await driver.settings() : undefined;
      for (const op of OPS) {
        ctx.log(`  sqlite: ${op} ${size}`);
        const results = await measure(contenders, op, 1, plan, size);
        const saverErrors = results.get(SAVER)?.errors ?? 0;
        if (saverErrors > 0) {
          // better-sqlite3's process aborting more often than the driver restarts it: the peer leaves the run, ours stay held to account.
          saverAlive = false;
          skipped.push(`${SAVER}: ${saverErrors} ${op} ${size} failed (${results.get(SAVER)!.firstError}); left out from here on`);
          results.delete(SAVER);
          contenders.splice(contenders.findIndex((c) => c.name === SAVER), 1);
        }
        failures.push(...errorFailures(results, `${op} ${size}`));
        const raw = results.get(RAW)!;
        const floor = results.get(RAW_JSON)!;
        for (const [contender, s] of results) rows.push({ size, bytes, op, contender, ...s, p50Ratio: ratio(s.p50, raw.p50), p50FloorRatio: ratio(s.p50, floor.p50) });
        const ours = results.get(SQLITE)!;
        if (op === "save" && size === "1KB") targets.push(target(`SQLite save p50 1KB / raw node:sqlite INSERT (one transaction)`, ratio(ours.p50, raw.p50), 1.5));
        if (op !== "save" && LOAD_TARGET_SIZES.includes(size)) {
          targets.push(target(`SQLite ${op} p50 ${size} / raw node:sqlite SELECT + JSON.parse`, ratio(ours.p50, floor.p50), 1.3));
        }
      }
    }
  } finally {
    await Promise.all([sqlite.close(), sqliteNoSearch.close(), driver.close()]);
  }
  return { rows, saverSettings, saverRestarts: driver.restarts() };
}

interface LongSide {
  /** Save (ours) or put (SqliteSaver), by mark. */
  writes: Map<number, Samples>;
  /** Load of the latest (ours) or getTuple of the last checkpoint put (SqliteSaver), by mark. */
  reads: Map<number, Samples>;
}

/**
 * One conversation through the store and through SqliteSaver, a turn of each in turn (which goes
 * first alternates), the same messages to both. The store loads the latest checkpoint and saves
 * the next with compare-and-set, as the MySQL long-conversation part does; the saver runs
 * getTuple then put, as long-langgraph.ts drives the LangGraph savers.
 */
async function longConversation(ctx: BenchContext, directory: string, rawDb: DatabaseSync, targets: Target[]) {
  const plan = ctx.quick ? QUICK_LONG : FULL_LONG;
  const path = join(directory, "long.db");
  const saverDirectory = await mkdtemp(join(directory, "long-saver-"));
  const cp = new SQLiteCheckpointer<AgentState>({ path });
  const side = (): LongSide => ({ writes: new Map(plan.marks.map((m) => [m, new Samples()])), reads: new Map(plan.marks.map((m) => [m, new Samples()])) });
  const ours = side();
  const saver = side();
  let peer: Child<Request["call"]> = forkSqlitePeer(saverDirectory);
  let restarts = 0;
  const random = prng(17);
  const title = sentence(random, 6);
  let state: AgentState = { messages: [], iteration: 0, metadata: { title } };
  const sizes = new Map<number, number>();
  let resume = false;
  /**
   * The saver's turn. When its process aborted (sqlite-peer.ts), a new one opens the file, takes
   * the conversation so far and the thread's latest checkpoint, and runs the turn again.
   */
  const saverTurn = async (added: Message[], before: Message[]): Promise<LongTurnResult> => {
    for (;;) {
      try {
        if (resume) await peer.request("longResume", before, state.iteration, title);
        resume = false;
        return await peer.request<LongTurnResult>("longTurn", added, title);
      } catch (error) {
        if (!(error instanceof ChildDied) || restarts >= MAX_SQLITE_RESTARTS) throw error;
        restarts++;
        ctx.log(`  sqlite: SqliteSaver's process died (${error.message.split("\n")[0]}); restarting it on the same file`);
        peer = forkSqlitePeer(saverDirectory);
        resume = true;
      }
    }
  };
  let encoding: Samples;
  let raw: { load: Samples; raw: Samples };
  try {
    let parent: string | null = null;
    for (let i = 1; i <= plan.turns; i++) {
      const added = turn(random, i);
      const mark = plan.marks.find((m) => i > m - WINDOW && i <= m);
      const before = state.messages;
      let next = state;
      for (const who of rotate(["store", "saver"] as const, i)) {
        if (who === "store") {
          let start = performance.now();
          const loaded = i === 1 ? state : (await cp.load(THREAD))!;
          if (mark && i > 1) ours.reads.get(mark)!.record(performance.now() - start);
          next = nextState(loaded, added);
          start = performance.now();
          parent = await cp.save(next, THREAD, { parentCheckpointId: parent });
          if (mark) ours.writes.get(mark)!.record(performance.now() - start);
        } else {
          const r = await saverTurn(added, before);
          if (mark) {
            saver.reads.get(mark)!.record(r.getMs);
            saver.writes.get(mark)!.record(r.putMs);
          }
        }
      }
      state = next;
      if (plan.marks.includes(i)) sizes.set(i, Buffer.byteLength(JSON.stringify(state)));
      if (i % 100 === 0) ctx.log(`  sqlite: turn ${i}`);
    }
    encoding = encodingCost(state, RAW_REPS);
    raw = await rawReference(cp, rawDb, state);
  } finally {
    await cp.close();
    await peer.request("close").catch(() => undefined);
  }
  const finalBytes = Buffer.byteLength(JSON.stringify(state));
  const stored = { store: sqliteFileBytes(path), saver: sqliteFileBytes(join(saverDirectory, "checkpoints.db")) };
  const db = openSqlite(path);
  const rows = db.prepare("SELECT COUNT(*) AS n, SUM(base_seq IS NULL) AS snapshots, SUM(length(state)) AS state, SUM(length(search_text)) AS text FROM checkpoints").get()!;
  db.close();

  const last = plan.marks.at(-1)!;
  const p50 = (m: Map<number, Samples>, mark: number) => m.get(mark)!.summary().p50;
  targets.push(
    target(`SQLite p50 load at turn ${last} / raw node:sqlite SELECT + JSON.parse of that state`, ratio(raw.load.summary().p50, raw.raw.summary().p50), 1.3),
    target(`SQLite p50 save at turn ${last} / SqliteSaver p50 put at turn ${last}`, ratio(p50(ours.writes, last), p50(saver.writes, last)), 1),
  );
  return {
    plan,
    ours,
    saver,
    sizes,
    finalBytes,
    stored,
    rows: { n: Number(rows.n), snapshots: Number(rows.snapshots), state: Number(rows.state), text: Number(rows.text) },
    encoding: encoding.summary(),
    raw: { load: raw.load.summary(), raw: raw.raw.summary() },
    restarts,
  };
}

/** The store's load of the latest state beside the floor: a raw primary-key SELECT of the same bytes and JSON.parse, interleaved. */
async function rawReference(cp: SQLiteCheckpointer<AgentState>, rawDb: DatabaseSync, state: AgentState) {
  rawDb.prepare("INSERT INTO raw (thread_id, seq, checkpoint_id, state) VALUES (?, 1, 'c1', ?)").run("long-raw", Buffer.from(JSON.stringify(state)));
  const select = rawDb.prepare("SELECT state FROM raw WHERE thread_id = ? AND seq = 1");
  const load = new Samples();
  const raw = new Samples();
  for (let i = 0; i < RAW_REPS; i++) {
    const pair = [() => load.time(() => cp.load(THREAD)), () => raw.time(async () => JSON.parse(asBuffer(select.get("long-raw")!.state).toString("utf8")))];
    for (const op of i % 2 ? pair : pair.reverse()) await op();
  }
  return { load, raw };
}

function report(
  settings: { journalMode: string; synchronous: number; sqlite: string },
  ops: Awaited<ReturnType<typeof opsVersusRaw>>,
  long: Awaited<ReturnType<typeof longConversation>>,
  skipped: string[],
  failures: string[],
  targets: Target[],
): PartResult {
  const { plan } = long;
  const last = plan.marks.at(-1)!;
  const p50 = (m: Map<number, Samples>, mark: number) => m.get(mark)!.summary().p50;
  const saverSettings = ops.saverSettings
    ? `SqliteSaver's connection (better-sqlite3, SQLite ${ops.saverSettings.sqlite}): journal_mode ${ops.saverSettings.journalMode}, synchronous ${ops.saverSettings.synchronous}`
    : "SqliteSaver's settings were not read";
  const restarts = ops.saverRestarts + long.restarts;
  return {
    title: "Part sqlite: the embedded store against raw node:sqlite, beside LangGraph's SqliteSaver",
    ...(skipped.length > 0 && { skipped: skipped.join("; ") }),
    report: [
      `Every contender is a file in one directory under ${tmpdir()}, WAL, SQLite's default synchronous: node:sqlite (SQLite ${settings.sqlite}) reports ` +
        `journal_mode ${settings.journalMode}, synchronous ${settings.synchronous} (2 = FULL: a commit waits for the WAL's fsync); ${saverSettings}. ` +
        `\`${RAW}\` is the ceiling: the state's serialised bytes in one INSERT in its own transaction (BEGIN IMMEDIATE … COMMIT, as the store's save) into a table keyed (thread_id, seq), and one primary-key SELECT. ` +
        `\`${RAW_JSON}\` adds JSON.stringify / JSON.parse. \`${SQLITE_NO_SEARCH}\` is the store with \`searchText: () => ""\` (no FTS5 index work). ` +
        `Each store save starts a thread of its own, so it stores the whole state as the INSERT does. ${SAVER} runs in a child process and is timed there, its prepared statements kept by SQL text (better-sqlite3 aborts when the GC finalizes one: sqlite-peer.ts) ` +
        `(put for save, getTuple for the loads: LangGraph's API, whose checkpoint wraps the same messages)` +
        `${restarts > 0 ? `; it aborted ${restarts} time(s) in better-sqlite3's statement finalizer and was restarted on the same file` : ""}. Concurrency 1, contenders in rotating order.`,
      table(
        ["size", "op", "contender", "p50 ms", "p99 ms", "ops/s", "p50 / raw", "p50 / raw+JSON"],
        ops.rows.map((r) => [r.size, r.op, r.contender, ms(r.p50), ms(r.p99), count(r.opsPerSec), times(r.p50Ratio), times(r.p50FloorRatio)]),
      ),
      `One conversation of ${count(plan.turns)} turns (about 1 KB each) through the store and through ${SAVER}, a turn of each in turn, the same messages: ` +
        `the store loads the latest checkpoint and saves the next with compare-and-set; the saver runs getTuple of its last checkpoint, then put of the next. p50 over the ${WINDOW} turns ending at each mark.`,
      table(
        ["turn", "state KB", "store save p50 ms", "SqliteSaver put p50 ms", "save / put", "store load p50 ms", "SqliteSaver getTuple p50 ms"],
        plan.marks.map((m) => [
          m,
          (long.sizes.get(m)! / 1024).toFixed(0),
          ms(p50(long.ours.writes, m)),
          ms(p50(long.saver.writes, m)),
          times(ratio(p50(long.ours.writes, m), p50(long.saver.writes, m))),
          ms(p50(long.ours.reads, m)),
          ms(p50(long.saver.reads, m)),
        ]),
      ),
      table(
        ["file after the conversation (page_count × page_size, WAL folded in)", "bytes", "× final state"],
        [
          [`store (${count(long.rows.n)} checkpoint rows, ${count(long.rows.snapshots)} snapshots; documents ${count(long.rows.state)} bytes, search text ${count(long.rows.text)})`, count(long.stored.store.bytes), times(ratio(long.stored.store.bytes, long.finalBytes))],
          [SAVER, count(long.stored.saver.bytes), times(ratio(long.stored.saver.bytes, long.finalBytes))],
        ],
      ),
      `Of a save at turn ${last}, serialising the whole state (JSON) and extracting its search text, which the API makes every save do, takes p50 ${ms(long.encoding.p50)} ms (${RAW_REPS} runs). ` +
        `Load of the final state (${(long.finalBytes / 1024).toFixed(0)} KB) against a raw primary-key SELECT of the same bytes and JSON.parse, interleaved, ${RAW_REPS} each: ` +
        `p50 ${ms(long.raw.load.p50)} ms against ${ms(long.raw.raw.p50)} ms.`,
    ],
    data: {
      settings,
      saverSettings: ops.saverSettings,
      rows: ops.rows,
      long: {
        turns: plan.turns,
        finalBytes: long.finalBytes,
        stored: long.stored,
        rows: long.rows,
        encoding: long.encoding,
        raw: long.raw,
        marks: Object.fromEntries(
          plan.marks.map((m) => [
            m,
            {
              bytes: long.sizes.get(m),
              save: long.ours.writes.get(m)!.summary(),
              load: long.ours.reads.get(m)!.summary(),
              put: long.saver.writes.get(m)!.summary(),
              getTuple: long.saver.reads.get(m)!.summary(),
            },
          ]),
        ),
      },
      saverRestarts: restarts,
      skipped,
    },
    targets,
    failures,
  };
}
