// MySQLSaver behaviour beyond LangGraph's conformance suite: storage layout, write order,
// metadata filters, copy, prune, limits and the shared schema migrations.
import { INTERRUPT, emptyCheckpoint, uuid6, type Checkpoint, type CheckpointMetadata, type CheckpointTuple } from "@langchain/langgraph-checkpoint";
import type { RunnableConfig } from "@langchain/core/runnables";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { isCheckpointerError } from "../../checkpointer/errors.js";
import { MySQLSaver } from "../../checkpointer/langgraph/index.js";
import { MIGRATIONS, migrationsTableSql, recordMigrationSql, SCHEMA_VERSION, tableNames } from "../../checkpointer/mysql/schema.js";
import { freshDatabase } from "../support/databases.js";

const url = inject("mysqlUrl");
const meta = (extra: Record<string, unknown> = {}): CheckpointMetadata => ({ source: "loop", step: 0, parents: {}, ...extra });

function checkpoint(values: Record<string, unknown>, versions: Record<string, number>): Checkpoint {
  return { ...emptyCheckpoint(), id: uuid6(3), channel_values: values, channel_versions: versions };
}

async function all(iterable: AsyncIterable<CheckpointTuple>): Promise<CheckpointTuple[]> {
  const out: CheckpointTuple[] = [];
  for await (const tuple of iterable) out.push(tuple);
  return out;
}

describe.skipIf(!url)("MySQLSaver", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let saver: MySQLSaver;
  let admin: mysql.Connection;
  const t = tableNames("cp_");
  const count = async (table: string, threadId: string) => {
    const [[row]] = await admin.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${table}\` WHERE thread_id = ?`, [threadId]);
    return Number(row!.n);
  };

  beforeAll(async () => {
    db = await freshDatabase(url!, "lgsaver");
    saver = MySQLSaver.fromConnString(db.url);
    await saver.setup();
    admin = await mysql.createConnection(db.url);
  });
  afterAll(async () => {
    await saver?.end();
    await admin?.end();
    await db?.drop();
  });

  it("stores each channel value once per version: a put writes only the channels in newVersions", async () => {
    const root: RunnableConfig = { configurable: { thread_id: "values", checkpoint_ns: "" } };
    const first = await saver.put(root, checkpoint({ a: "x", b: [1] }, { a: 1, b: 1 }), meta(), { a: 1, b: 1 });
    const second = await saver.put(first, checkpoint({ a: "x", b: [1, 2] }, { a: 1, b: 2 }), meta(), { b: 2 });
    expect(await count(t.lgBlobs, "values")).toBe(3);
    expect((await saver.getTuple(first))?.checkpoint.channel_values).toEqual({ a: "x", b: [1] });
    expect((await saver.getTuple(second))?.checkpoint.channel_values).toEqual({ a: "x", b: [1, 2] });
    expect((await saver.getTuple(root))?.config.configurable?.checkpoint_id).toBe(second.configurable?.checkpoint_id);
  });

  it("keeps two forks of one checkpoint apart (each writes its own version of a channel)", async () => {
    const State = Annotation.Root({ topic: Annotation<string>, summary: Annotation<string> });
    const app = new StateGraph(State)
      .addNode("summarise", (state) => ({ summary: `about ${state.topic}` }))
      .addEdge(START, "summarise")
      .addEdge("summarise", END)
      .compile({ checkpointer: saver });
    const config = { configurable: { thread_id: "forks" } };
    await app.invoke({ topic: "cats" }, config);
    const history = [];
    for await (const snapshot of app.getStateHistory(config)) history.push(snapshot);
    const start = history.at(-2)!.config; // after the input, before summarise
    const dogs = await app.updateState(start, { topic: "dogs" });
    const birds = await app.updateState(start, { topic: "birds" });
    expect((await app.getState(dogs)).values).toEqual({ topic: "dogs" });
    expect((await app.getState(birds)).values).toEqual({ topic: "birds" });
    expect((await app.invoke(null, birds)).summary).toBe("about birds");
  });

  it("reads a checkpoint with more channels than one read statement carries", async () => {
    const names = Array.from({ length: 150 }, (_, i) => `channel_${i}`);
    const values = Object.fromEntries(names.map((n, i) => [n, i]));
    const versions = Object.fromEntries(names.map((n) => [n, 1]));
    const saved = await saver.put({ configurable: { thread_id: "wide" } }, checkpoint(values, versions), meta(), versions);
    expect((await saver.getTuple(saved))?.checkpoint.channel_values).toEqual(values);
  });

  it("keeps serializer bytes as bytes, including a Uint8Array that views part of a larger buffer", async () => {
    const bytes = new Uint8Array(new Uint8Array([9, 9, 1, 2, 3, 9]).buffer, 2, 3);
    const saved = await saver.put({ configurable: { thread_id: "bytes" } }, checkpoint({ raw: bytes }, { raw: 1 }), meta(), { raw: 1 });
    const [[row]] = await admin.query<mysql.RowDataPacket[]>(`SELECT type, HEX(data) AS hex FROM \`${t.lgBlobs}\` WHERE thread_id = 'bytes'`);
    expect(row).toMatchObject({ type: "bytes", hex: "010203" });
    expect((await saver.getTuple(saved))?.checkpoint.channel_values.raw).toEqual(new Uint8Array([1, 2, 3]));
  });

  it("returns pending writes in compareWritesSortKeys order (task path by code point, task id, idx), keeping taskPath", async () => {
    const saved = await saver.put({ configurable: { thread_id: "writes" } }, checkpoint({}, {}), meta(), {});
    // By UTF-16 unit "\u{1F600}" sorts before "\uFFFF"; by code point (LangGraph's order) after.
    await saver.putWrites(saved, [["x", "emoji"]], "task-a", "\u{1F600}");
    await saver.putWrites(saved, [["x", "bmp"]], "task-b", "\uFFFF");
    await saver.putWrites(saved, [["x", "b0"], ["y", "b1"]], "task-d", "");
    await saver.putWrites(saved, [["x", "input"]], "task-c", "");
    const pending = (await saver.getTuple(saved))?.pendingWrites;
    expect(pending).toEqual([
      ["task-c", "x", "input"],
      ["task-d", "x", "b0"],
      ["task-d", "y", "b1"],
      ["task-b", "x", "bmp"],
      ["task-a", "x", "emoji"],
    ]);
    const [paths] = await admin.query<mysql.RowDataPacket[]>(`SELECT task_id, task_path FROM \`${t.lgWrites}\` WHERE thread_id = 'writes' AND idx = 0 ORDER BY task_id`);
    expect(paths.map((r) => r.task_path)).toEqual(["\u{1F600}", "\uFFFF", "", ""]);
  });

  it("keeps the first regular write of a (task, idx) and replaces special ones (interrupts)", async () => {
    const saved = await saver.put({ configurable: { thread_id: "rewrite" } }, checkpoint({}, {}), meta(), {});
    await saver.putWrites(saved, [["x", 1]], "task");
    await saver.putWrites(saved, [["x", 2]], "task");
    await saver.putWrites(saved, [[INTERRUPT, "first"]], "task");
    await saver.putWrites(saved, [[INTERRUPT, "second"]], "task");
    expect((await saver.getTuple(saved))?.pendingWrites).toEqual([
      ["task", INTERRUPT, "second"], // idx -3 sorts first
      ["task", "x", 1],
    ]);
  });

  it("lands concurrent puts and writes on one thread (lock conflicts are retried)", async () => {
    const root = await saver.put({ configurable: { thread_id: "busy" } }, checkpoint({ a: 0 }, { a: 1 }), meta(), { a: 1 });
    const children = await Promise.all(
      Array.from({ length: 20 }, (_, i) => saver.put(root, checkpoint({ a: 0, b: i }, { a: 1, b: 2 }), meta({ step: i }), { a: 1, b: 2 })),
    );
    await Promise.all(children.map((c, i) => saver.putWrites(c, [["a", i], ["b", i]], `task-${i}`)));
    expect(await count(t.lgCheckpoints, "busy")).toBe(21);
    expect(await count(t.lgWrites, "busy")).toBe(40);
  });

  it("filters list by metadata containment, with keys and values that are not SQL", async () => {
    const root = { configurable: { thread_id: "filters", checkpoint_ns: "" } };
    const tricky = { "it's": 'a "quoted" \\ value', "$.path[0]": "not a path" };
    const a = await saver.put(root, checkpoint({}, {}), meta({ ...tricky, tags: ["x", "y"], nested: { k: 1, j: 2 } }), {});
    const b = await saver.put(a, checkpoint({}, {}), meta({ source: "input", tags: ["y"] }), {});
    const ids = async (filter: Record<string, unknown>, options: { limit?: number; before?: RunnableConfig } = {}) =>
      (await all(saver.list(root, { filter, ...options }))).map((tuple) => tuple.config.configurable?.checkpoint_id);
    const [idA, idB] = [a.configurable?.checkpoint_id, b.configurable?.checkpoint_id];
    expect(await ids(tricky)).toEqual([idA]);
    expect(await ids({ tags: ["y"] })).toEqual([idB, idA]); // containment, as PostgreSQL's @>
    expect(await ids({ nested: { k: 1 } })).toEqual([idA]);
    expect(await ids({ source: "input" })).toEqual([idB]);
    expect(await ids({ source: "update" })).toEqual([]);
    expect(await ids({}, { limit: 1 })).toEqual([idB]);
    expect(await ids({}, { before: b })).toEqual([idA]);
    await expect(all(saver.list(root, { limit: -1 }))).rejects.toSatisfy((e) => isCheckpointerError(e, "INVALID_INPUT"));
  });

  it("copies a thread's checkpoints, values and writes to a new thread, and refuses a taken target", async () => {
    const first = await saver.put({ configurable: { thread_id: "copy-src" } }, checkpoint({ a: "v1" }, { a: 1 }), meta(), { a: 1 });
    const second = await saver.put(first, checkpoint({ a: "v2" }, { a: 2 }), meta(), { a: 2 });
    await saver.putWrites(second, [["a", "pending"]], "task", "~path");
    await saver.copyThread("copy-src", "copy-dst");
    const copied = await all(saver.list({ configurable: { thread_id: "copy-dst" } }));
    const original = await all(saver.list({ configurable: { thread_id: "copy-src" } }));
    const retargeted = original.map((tuple) => JSON.parse(JSON.stringify(tuple).replaceAll('"copy-src"', '"copy-dst"')));
    expect(copied).toEqual(retargeted);
    expect(copied[0]?.pendingWrites).toEqual([["task", "a", "pending"]]);
    await expect(saver.copyThread("copy-src", "copy-dst")).rejects.toSatisfy((e) => isCheckpointerError(e, "CONFLICT"));
  });

  it("prunes to the latest checkpoint per namespace, keeping its writes and values, so the thread can go on", async () => {
    const thread = "prune";
    let config: RunnableConfig = { configurable: { thread_id: thread } };
    for (let step = 1; step <= 5; step++) {
      config = await saver.put(config, checkpoint({ a: step, b: "fixed" }, { a: step, b: 1 }), meta({ step }), step === 1 ? { a: 1, b: 1 } : { a: step });
      await saver.putWrites(config, [["a", step + 1]], `task-${step}`);
    }
    const sub = await saver.put({ configurable: { thread_id: thread, checkpoint_ns: "sub" } }, checkpoint({ s: 1 }, { s: 1 }), meta(), { s: 1 });
    await saver.put(sub, checkpoint({ s: 2 }, { s: 2 }), meta(), { s: 2 });
    const before = await saver.getTuple({ configurable: { thread_id: thread } });

    await saver.prune([thread]);
    expect(await count(t.lgCheckpoints, thread)).toBe(2); // one per namespace
    expect(await count(t.lgBlobs, thread)).toBe(3); // a@5, b@1, s@2
    expect(await count(t.lgWrites, thread)).toBe(1);
    expect(await saver.getTuple({ configurable: { thread_id: thread } })).toEqual(before);
    expect((await saver.getTuple({ configurable: { thread_id: thread, checkpoint_ns: "sub" } }))?.checkpoint.channel_values).toEqual({ s: 2 });
    const next = await saver.put(config, checkpoint({ a: 6, b: "fixed" }, { a: 6, b: 1 }), meta(), { a: 6 });
    expect((await saver.getTuple(next))?.checkpoint.channel_values).toEqual({ a: 6, b: "fixed" });

    await saver.prune([thread], { strategy: "delete" });
    for (const table of [t.lgCheckpoints, t.lgBlobs, t.lgWrites]) expect(await count(table, thread)).toBe(0);
  });

  it("stores a growing channel as splices of its previous value: a few times its final size, every checkpoint exact, through copies and prune", async () => {
    const thread = "long-channel";
    let config: RunnableConfig = { configurable: { thread_id: thread } };
    const messages: string[] = [];
    const puts: [RunnableConfig, Record<string, unknown>][] = [];
    for (let step = 1; step <= 120; step++) {
      messages.push(`message ${step}: ${"words ".repeat(30)}`);
      const values = { messages: [...messages], step };
      config = await saver.put(config, checkpoint(values, { messages: step, step }), meta({ step }), { messages: step, step });
      puts.push([config, values]);
    }
    const stored = async (threadId: string) => {
      const [[row]] = await admin.query<mysql.RowDataPacket[]>(
        `SELECT SUM(LENGTH(data)) AS bytes, SUM(base_version IS NULL) AS whole, COUNT(*) AS n FROM \`${t.lgBlobs}\` WHERE thread_id = ? AND channel = 'messages'`,
        [threadId],
      );
      return { bytes: Number(row!.bytes), whole: Number(row!.whole), n: Number(row!.n) };
    };
    const before = await stored(thread);
    // A snapshot each time the value about doubled: 2x to 3x the final value, not 60x.
    expect(before.bytes / Buffer.byteLength(JSON.stringify(messages))).toBeLessThan(3);
    expect(before.whole).toBeLessThan(12);

    // Another saver, holding no recent values, reads every checkpoint; having read the latest, it goes on in splices.
    const other = MySQLSaver.fromConnString(db.url);
    try {
      for (const [c, values] of puts) expect((await other.getTuple(c))?.checkpoint.channel_values).toEqual(values);
      const latest = (await other.getTuple({ configurable: { thread_id: thread } }))!;
      messages.push("message 121");
      const values = { messages: [...messages], step: 121 };
      puts.push([await other.put(latest.config, checkpoint(values, { messages: 121, step: 121 }), meta(), { messages: 121, step: 121 }), values]);
      expect((await stored(thread)).whole).toBe(before.whole);
    } finally {
      await other.end();
    }

    await saver.copyThread(thread, "long-channel-copy");
    await saver.prune([thread]);
    // The kept value was a splice: it is stored whole before the rows it was based on go.
    expect(await stored(thread)).toMatchObject({ n: 1, whole: 1 });
    expect((await saver.getTuple({ configurable: { thread_id: thread } }))?.checkpoint.channel_values).toEqual(puts.at(-1)![1]);
    for (const [c, values] of puts) {
      const copy = { configurable: { ...c.configurable, thread_id: "long-channel-copy" } };
      expect((await saver.getTuple(copy))?.checkpoint.channel_values).toEqual(values);
    }
  });

  it("refuses ids and channel names longer than their columns with INVALID_INPUT, writing nothing", async () => {
    const invalid = (e: unknown) => isCheckpointerError(e, "INVALID_INPUT");
    await expect(saver.put({ configurable: { thread_id: "x".repeat(256) } }, checkpoint({}, {}), meta(), {})).rejects.toSatisfy(invalid);
    const long = "c".repeat(193);
    await expect(saver.put({ configurable: { thread_id: "limits" } }, checkpoint({ [long]: 1 }, { [long]: 1 }), meta(), { [long]: 1 })).rejects.toSatisfy(invalid);
    // 255 characters of 4 bytes each fit: the limit is in characters, as MySQL counts them.
    const saved = await saver.put({ configurable: { thread_id: "🧵".repeat(255) } }, checkpoint({}, {}), meta(), {});
    expect((await saver.getTuple(saved))?.config.configurable?.thread_id).toBe("🧵".repeat(255));
    expect(await count(t.lgCheckpoints, "limits")).toBe(0);
  });

  it("shares the module's schema version table: a v1 database is migrated to the LangGraph tables", async () => {
    const old = await freshDatabase(url!, "lgv1");
    const conn = await mysql.createConnection(old.url);
    try {
      await conn.query(migrationsTableSql(t));
      for (const statement of MIGRATIONS[0]!.statements(t)) await conn.query(statement);
      await conn.execute({ sql: recordMigrationSql(t).texts[0]!, namedPlaceholders: true }, { version: 1, name: MIGRATIONS[0]!.name });
      const upgraded = MySQLSaver.fromConnString(old.url);
      await upgraded.put({ configurable: { thread_id: "t" } }, checkpoint({}, {}), meta(), {});
      await upgraded.end();
      const [versions] = await conn.query<mysql.RowDataPacket[]>(`SELECT version FROM \`${t.migrations}\` ORDER BY version`);
      expect(versions.map((r) => r.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
      const [[row]] = await conn.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${t.lgCheckpoints}\``);
      expect(Number(row!.n)).toBe(1);
    } finally {
      await conn.end();
      await old.drop();
    }
  });
});
