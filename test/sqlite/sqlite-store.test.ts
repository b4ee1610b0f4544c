// The embedded store as it is deployed: one SQLite file that several processes share, and that
// outlives them.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { CheckpointerError, SQLiteCheckpointer } from "../../checkpointer/index.js";

const run = promisify(execFile);
interface Conversation {
  messages: { role: string; content: string }[];
}

describe("SQLite store", () => {
  const dirs: string[] = [];
  const newPath = async () => {
    const dir = await mkdtemp(join(tmpdir(), "sqlite-store-"));
    dirs.push(dir);
    return join(dir, "checkpoints.db");
  };
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it("two processes taking turns on one thread of one file: every acknowledged turn kept, once, in one chain", async () => {
    const path = await newPath();
    const writer = join(import.meta.dirname, "support-writer.ts");
    const start = String(Date.now() + 3000);
    const results = await Promise.all(
      ["a", "b"].map(async (name) => JSON.parse((await run(process.execPath, ["--import", "tsx", writer, path, name, "40", start])).stdout) as { acknowledged: string[]; conflicts: number }),
    );
    const cp = new SQLiteCheckpointer<Conversation>({ path });
    const history = await cp.listCheckpoints("shared", 1000);
    const acknowledged = results.flatMap((r) => r.acknowledged);
    expect(acknowledged).toHaveLength(80);
    expect(new Set(history)).toEqual(new Set(acknowledged));
    // Each checkpoint is its parent plus one line: no turn lost, none stored twice.
    const latest = (await cp.load("shared"))!;
    expect(latest.messages).toHaveLength(80);
    expect(new Set(latest.messages.map((m) => m.content)).size).toBe(80);
    for (const name of ["a", "b"]) {
      expect(latest.messages.filter((m) => m.content.startsWith(`${name} `)).map((m) => m.content)).toEqual(Array.from({ length: 40 }, (_, i) => `${name} turn ${i}`));
    }
    // The two really interleaved (each saw the other move the thread on).
    expect(results.some((r) => r.conflicts > 0)).toBe(true);
    // Turns after the other process's save are still deltas: each process loaded its parent first.
    const db = new DatabaseSync(path, { readOnly: true });
    const snapshots = db.prepare("SELECT COUNT(*) AS n FROM checkpoints WHERE base_seq IS NULL").get() as { n: number };
    db.close();
    expect(snapshots.n).toBeLessThan(10);
    await cp.close();
  }, 120_000);

  it("keeps everything across a restart, deltas going on after the new process's first load", async () => {
    const path = await newPath();
    const saved = new Map<string, Conversation>();
    const converse = async (cp: SQLiteCheckpointer<Conversation>, from: number, to: number) => {
      let id = (await cp.getMetadata("long"))?.checkpointId ?? null;
      let state = id ? (await cp.load("long", id))! : { messages: [] };
      for (let i = from; i < to; i++) {
        state = { messages: [...state.messages, { role: "user", content: `turn ${i} about topic${i} ${"and more ".repeat(20)}` }] };
        id = await cp.save(state, "long", { parentCheckpointId: id });
        saved.set(id, state);
      }
    };
    const first = new SQLiteCheckpointer<Conversation>({ path });
    await converse(first, 0, 100);
    await first.close();
    const second = new SQLiteCheckpointer<Conversation>({ path });
    await converse(second, 100, 150);
    await second.close();
    const db = new DatabaseSync(path, { readOnly: true });
    const rows = db.prepare("SELECT seq, base_seq FROM checkpoints ORDER BY seq").all() as { seq: number; base_seq: number | null }[];
    db.close();
    // The restarted process's first save (seq 101) is a delta of the one it loaded.
    expect(rows[100]!.base_seq).toBe(100);
    const reader = new SQLiteCheckpointer<Conversation>({ path });
    for (const [id, state] of saved) expect(await reader.load("long", id)).toEqual(state);
    expect((await reader.search("topic3")).map((h) => h.threadId)).toEqual(["long"]);
    await reader.close();
  });

  it("reports a file that is not a database as CORRUPT, and a missing base row as CORRUPT, never a wrong state", async () => {
    const notDb = await newPath();
    await writeFile(notDb, "this is not a database, but it is long enough to have a header ".repeat(20));
    const broken = new SQLiteCheckpointer({ path: notDb });
    const error = await broken.load("t").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointerError);
    expect((error as CheckpointerError).code).toBe("CORRUPT");

    const path = await newPath();
    const cp = new SQLiteCheckpointer<Conversation>({ path });
    let id: string | null = null;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      id = await cp.save({ messages: Array.from({ length: i + 1 }, (_, j) => ({ role: "user", content: `line ${j}` })) }, "t", { parentCheckpointId: id });
      ids.push(id);
    }
    const db = new DatabaseSync(path);
    db.prepare("DELETE FROM checkpoints WHERE seq = 3").run();
    db.prepare("UPDATE checkpoints SET state = CAST(x'00' || state AS BLOB) WHERE seq = 2").run();
    db.close();
    for (const checkpoint of [ids[1], ids[3], ids[4]]) {
      const failure = await cp.load("t", checkpoint).catch((e: unknown) => e);
      expect(failure, checkpoint).toBeInstanceOf(CheckpointerError);
      expect((failure as CheckpointerError).code).toBe("CORRUPT");
    }
    expect(await cp.load("t", ids[0])).toEqual({ messages: [{ role: "user", content: "line 0" }] });
    await cp.close();
  });
});
