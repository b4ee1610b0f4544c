// Delta checkpoints on a real MySQL: what is stored, and that every checkpoint stays loadable
// (deep-equal to what was saved) and findable through deletes, vacuum, copies and other writers.
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mysqlCheckpointer, type Checkpointer } from "../../checkpointer/index.js";
import { spliceOf } from "../../checkpointer/delta.js";
import { MIGRATIONS, migrationsTableSql, tableNames } from "../../checkpointer/mysql/schema.js";
import { freshDatabase } from "../support/databases.js";

const rootUrl = inject("mysqlUrl");

interface Conversation {
  messages: { role: string; content: string }[];
}

const turn = (i: number) => [
  { role: "user", content: `Question ${i}: tell me about topic${i} please` },
  { role: "assistant", content: `Answer ${i}: topic${i} is ${"interesting ".repeat(8)}` },
];

describe.skipIf(!rootUrl)("delta checkpoints (MySQL)", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let admin: mysql.Connection;
  const opened: Checkpointer<Conversation>[] = [];
  const open = (url = db.url) => {
    const cp = mysqlCheckpointer<Conversation>(url);
    opened.push(cp);
    return cp;
  };

  beforeAll(async () => {
    db = await freshDatabase(rootUrl!, "delta");
    admin = await mysql.createConnection(db.url);
  });
  afterAll(async () => {
    await Promise.all(opened.map((cp) => cp.close()));
    await admin?.end();
    await db?.drop();
  });

  /** Saves `turns` turns on a thread, each on the one before (compare-and-set); every state saved, by id. */
  async function converse(cp: Checkpointer<Conversation>, thread: string, turns: number, from = 0) {
    const saved = new Map<string, Conversation>();
    let state: Conversation = (await cp.load(thread)) ?? { messages: [] };
    let parent = (await cp.getMetadata(thread))?.checkpointId ?? null;
    for (let i = from; i < from + turns; i++) {
      state = { messages: [...state.messages, ...turn(i)] };
      parent = await cp.save(state, thread, { parentCheckpointId: parent });
      saved.set(parent, state);
    }
    return saved;
  }

  /** Every checkpoint loads as saved, through a checkpointer that never saw the thread. */
  async function expectAllLoad(thread: string, saved: Map<string, Conversation>, url = db.url) {
    const fresh = open(url);
    for (const [id, state] of saved) expect(await fresh.load(thread, id), id).toEqual(state);
  }

  const rows = async (thread: string) => {
    const [r] = await admin.query<mysql.RowDataPacket[]>(
      "SELECT seq, base_seq, encoding, LENGTH(state) AS state_bytes, LENGTH(search_text) AS text_bytes FROM cp_checkpoints WHERE thread_id = ? ORDER BY seq",
      [thread],
    );
    return r as { seq: number; base_seq: number | null; encoding: number; state_bytes: number; text_bytes: number }[];
  };

  it("stores a long conversation in a few times its final size, and loads every checkpoint exactly", async () => {
    const saved = await converse(open(), "long", 150);
    const stored = await rows("long");
    const last = [...saved.values()].at(-1)!;
    const finalBytes = Buffer.byteLength(JSON.stringify(last));
    const finalText = Buffer.byteLength(last.messages.map((m) => m.content).join("\n"));
    const sum = (column: "state_bytes" | "text_bytes") => stored.reduce((n, r) => n + r[column], 0);
    // The policy's bounds: documents at most 3x the final one (a snapshot each time it doubled:
    // 2x just before a snapshot, 3x just after), search text each line once.
    expect(stored.filter((r) => r.base_seq === null).length).toBeLessThan(12);
    expect(sum("state_bytes") / finalBytes).toBeLessThan(3);
    // Snapshots past the first are stored compressed.
    expect(stored.filter((r) => r.base_seq === null && r.encoding === 1).length).toBeGreaterThan(0);
    expect(sum("text_bytes") / finalText).toBeLessThan(1.05);
    await expectAllLoad("long", saved);
  });

  it("finds words from any turn, in the latest checkpoint's text only", async () => {
    const cp = open();
    const hits = await cp.search("topic3");
    expect(hits.map((h) => h.threadId)).toEqual(["long"]);
    expect(hits[0]!.checkpointId).toBe((await cp.getMetadata("long"))!.checkpointId);
    expect(hits[0]!.snippet).toContain("topic3");
    // A state that drops earlier messages is no longer found by their words.
    const latest = (await cp.getMetadata("long"))!.checkpointId;
    await cp.save({ messages: turn(999) }, "long", { parentCheckpointId: latest });
    expect(await cp.search("topic3")).toEqual([]);
    expect((await cp.search("topic999")).map((h) => h.threadId)).toEqual(["long"]);
  });

  it("stores deltas and indexes each line once when replicas take turns on a thread, loading by id, one of them restarted", async () => {
    // As the app does behind a round-robin balancer: each turn, a replica loads the checkpoint
    // the client names (by id), then saves on it; halfway, one replica is replaced by a new process.
    const replicas = [open(), open()];
    const saved = new Map<string, Conversation>();
    let last: Conversation = { messages: [] };
    let id: string | null = null;
    for (let i = 0; i < 40; i++) {
      if (i === 20) replicas[1] = open();
      const cp = replicas[i % 2]!;
      const state = id === null ? { messages: [] } : (await cp.load("replicas", id))!;
      last = { messages: [...state.messages, ...turn(i)] };
      id = await cp.save(last, "replicas", { parentCheckpointId: id });
      saved.set(id, last);
    }
    const stored = await rows("replicas");
    const finalText = Buffer.byteLength(last.messages.map((m) => m.content).join("\n"));
    expect(stored.filter((r) => r.base_seq === null).length).toBeLessThan(8);
    expect(stored.reduce((n, r) => n + r.text_bytes, 0) / finalText).toBeLessThan(1.05);
    await expectAllLoad("replicas", saved);
  });

  it("keeps every other checkpoint loadable and findable when snapshots and deltas are deleted", async () => {
    const cp = open();
    const saved = await converse(cp, "deletes", 60);
    const ids = [...saved.keys()];
    const stored = await rows("deletes");
    // The first checkpoint (a snapshot everything depends on), one in the middle, a run of three.
    const doomed = [ids[0]!, ids[20]!, ids[31]!, ids[32]!, ids[33]!];
    expect(stored[0]!.base_seq).toBeNull();
    expect(stored[1]!.base_seq).toBe(stored[0]!.seq);
    for (const id of doomed) {
      expect(await cp.delete("deletes", id)).toBe(true);
      saved.delete(id);
    }
    await expectAllLoad("deletes", saved);
    expect((await cp.search("topic0")).map((h) => h.threadId)).toContain("deletes");
    // And the thread goes on in deltas.
    const more = await converse(cp, "deletes", 5, 60);
    await expectAllLoad("deletes", new Map([...saved, ...more]));
  });

  it("keeps the kept checkpoints loadable through vacuum with keepLast, and copies of a thread", async () => {
    const cp = open();
    const saved = await converse(cp, "vacuumed", 40);
    expect(await cp.copyThread("vacuumed", "copied")).toBe(true);
    // Everything is older than the cutoff but the newest 7 are kept.
    await admin.query("UPDATE cp_checkpoints SET created_at = created_at - INTERVAL 10 DAY WHERE thread_id = 'vacuumed'");
    expect(await cp.vacuum({ olderThanDays: 1, keepLast: 7 })).toBe(33);
    const ids = [...saved.keys()];
    expect(await cp.listCheckpoints("vacuumed", 100)).toEqual(ids.slice(-7).reverse());
    await expectAllLoad("vacuumed", new Map(ids.slice(-7).map((id) => [id, saved.get(id)!])));
    expect((await cp.search("topic0")).map((h) => h.threadId)).toEqual(expect.arrayContaining(["copied", "vacuumed"]));
    await expectAllLoad("copied", saved);
  });

  it("never writes a delta against a row another process replaced, even under the same ids", async () => {
    const a = open();
    const b = open();
    const first = await converse(a, "shared", 3);
    // Another process deletes the thread and writes it again under the same checkpoint ids.
    await b.delete("shared");
    const ids = [...first.keys()];
    const other: Conversation = { messages: [{ role: "user", content: "something else entirely" }] };
    await b.save(other, "shared", { checkpointId: ids[2]! });
    // `a` still holds the old ids[2] as its parent: its save must not splice the old document.
    const next: Conversation = { messages: [...other.messages, ...turn(50)] };
    const id = await a.save(next, "shared", { parentCheckpointId: ids[2]! });
    expect(await open().load("shared", id)).toEqual(next);
    // Writes from two processes in turn, without compare-and-set, stay exact too.
    const c = { messages: [...next.messages, ...turn(51)] };
    const cId = await b.save(c, "shared");
    const d = { messages: [...c.messages, ...turn(52)] };
    const dId = await a.save(d, "shared");
    await expectAllLoad("shared", new Map([[id, next], [cId, c], [dId, d]]));
  });

  it("takes a v2 database as it is: old rows stay readable as snapshots, and the thread goes on in deltas", async () => {
    const old = await freshDatabase(rootUrl!, "v2");
    const conn = await mysql.createConnection({ uri: old.url, multipleStatements: true });
    try {
      // Schema v2, as a database made before delta checkpoints has it, with one thread written v2's way.
      const t = tableNames("cp_");
      await conn.query(migrationsTableSql(t));
      for (const [i, migration] of MIGRATIONS.slice(0, 2).entries()) {
        for (const statement of migration.statements(t)) await conn.query(statement);
        await conn.execute("INSERT INTO cp_schema_migrations (version, name) VALUES (?, ?)", [i + 1, migration.name]);
      }
      const v2State: Conversation = { messages: turn(1) };
      await conn.execute("INSERT INTO cp_threads VALUES ('legacy', 2, 1, 'c1', NULL, NOW(6), NULL, '{}', '[]')");
      await conn.execute("INSERT INTO cp_checkpoints VALUES ('legacy', 1, 'c1', NULL, NOW(6), NULL, '{}', ?, 'Question 1')", [JSON.stringify(v2State)]);

      const cp = open(old.url);
      expect(await cp.load("legacy")).toEqual(v2State);
      const saved = await converse(cp, "legacy", 4, 2);
      const latest = [...saved.values()].at(-1);
      saved.set("c1", v2State);
      await expectAllLoad("legacy", saved, old.url);
      const [[version]] = await conn.query<mysql.RowDataPacket[]>("SELECT MAX(version) AS v FROM cp_schema_migrations");
      expect(version!.v).toBe(MIGRATIONS.length);
      // The first save after the migration is a snapshot (the old row has no token); deltas follow.
      const [stored] = await conn.query<mysql.RowDataPacket[]>("SELECT base_seq FROM cp_checkpoints WHERE thread_id = 'legacy' ORDER BY seq");
      expect(stored.map((r) => r.base_seq).slice(0, 3)).toEqual([null, null, 2]);
      // A second run of v3's ALTER (another replica, or a run cut short) is taken as done.
      const again = open(old.url);
      await conn.query("DELETE FROM cp_schema_migrations WHERE version = 3");
      expect(await again.load("legacy")).toEqual(latest);
    } finally {
      await conn.end();
      await old.drop();
    }
  });
  it("migrates a v4 database without losing a delta: its chains of splices get named bases and still load", async () => {
    const old = await freshDatabase(rootUrl!, "v4");
    const conn = await mysql.createConnection({ uri: old.url, multipleStatements: true });
    try {
      const t = tableNames("cp_");
      await conn.query(migrationsTableSql(t));
      for (const [i, migration] of MIGRATIONS.slice(0, 4).entries()) {
        for (const statement of migration.statements(t)) await conn.query(statement);
        await conn.execute("INSERT INTO cp_schema_migrations (version, name) VALUES (?, ?)", [i + 1, migration.name]);
      }
      // A snapshot and two splices as v4 wrote them: a chain by range (snapshot_seq), no named base.
      const states: Conversation[] = [{ messages: turn(1) }, { messages: [...turn(1), ...turn(2)] }, { messages: [...turn(1), ...turn(2), ...turn(3)] }];
      const docs = states.map((s) => Buffer.from(JSON.stringify(s)));
      await conn.execute("INSERT INTO cp_threads VALUES ('v4', 4, 3, 'c3', 'c2', NOW(6), NULL, '{}', '[]')");
      const insert = "INSERT INTO cp_checkpoints (thread_id, seq, checkpoint_id, parent_checkpoint_id, created_at, expires_at, metadata, state, search_text, snapshot_seq, splice_prefix, splice_suffix, row_token, text_root_seq) VALUES ('v4', ?, ?, ?, NOW(6), NULL, '{}', ?, '', ?, ?, ?, RANDOM_BYTES(16), NULL)";
      await conn.execute(insert, [1, "c1", null, docs[0]!, null, null, null]);
      for (const i of [1, 2]) {
        const splice = spliceOf(docs[i - 1]!, docs[i]!);
        await conn.execute(insert, [i + 1, `c${i + 1}`, `c${i}`, splice.middle, 1, splice.prefix, splice.suffix]);
      }
      const cp = open(old.url);
      for (const i of [0, 1, 2]) expect(await cp.load("v4", `c${i + 1}`)).toEqual(states[i]);
      const [based] = await conn.query<mysql.RowDataPacket[]>("SELECT base_seq FROM cp_checkpoints WHERE thread_id = 'v4' ORDER BY seq");
      expect(based.map((r) => r.base_seq)).toEqual([null, 1, 2]);
      // Deleting the middle one mends the last, which then still loads.
      expect(await cp.delete("v4", "c2")).toBe(true);
      expect(await open(old.url).load("v4", "c3")).toEqual(states[2]);
    } finally {
      await conn.end();
      await old.drop();
    }
  });
  it("loads a chain whose rows lack the snapshot_seq hint, and the deltas saved after it, by reading from the thread's first row", async () => {
    const cp = open();
    const saved = await converse(cp, "hintless", 6);
    await admin.query("UPDATE cp_checkpoints SET snapshot_seq = NULL WHERE thread_id = 'hintless'");
    await expectAllLoad("hintless", saved);
    const more = await converse(open(), "hintless", 3, 6);
    await expectAllLoad("hintless", new Map([...saved, ...more]));
  });
});
