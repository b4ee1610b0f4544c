import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CheckpointerError, FileCheckpointer } from "../../checkpointer/index.js";

describe("FileCheckpointer with a damaged index.json", () => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it.each([
    ["torn JSON", '{"threadId": "t1", "nextSeq'],
    ["JSON that is no thread index", '{"hello": "world"}'],
  ])("reports %s as a CheckpointerError SCHEMA naming the file", async (_label, damage) => {
    const directory = await mkdtemp(join(tmpdir(), "file-store-"));
    dirs.push(directory);
    const cp = new FileCheckpointer<{ n: number }>({ directory });
    await cp.save({ n: 1 }, "t1");
    const [folder] = await readdir(join(directory, "threads"));
    const index = join(directory, "threads", folder!, "index.json");
    await writeFile(index, damage);
    for (const call of [() => cp.load("t1"), () => cp.listThreads()]) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CheckpointerError);
      expect((error as CheckpointerError).code).toBe("SCHEMA");
      expect((error as CheckpointerError).message).toContain(index);
    }
    await cp.close();
  });
});

describe("FileCheckpointer stores a conversation as deltas", () => {
  interface Conversation {
    messages: { role: string; content: string }[];
  }
  const turn = (i: number) => ({ role: i % 2 ? "assistant" : "user", content: `Turn ${i} is about topic${i} ${"and more ".repeat(20)}` });
  let directory = "";
  afterAll(() => rm(directory, { recursive: true, force: true }));

  const files = async () => {
    const [folder] = await readdir(join(directory, "threads"));
    const dir = join(directory, "threads", folder!);
    const names = await readdir(dir);
    const bytes = async (suffix: string) => {
      let n = 0;
      for (const name of names.filter((f) => f.endsWith(suffix) && f !== "index.json")) n += (await stat(join(dir, name))).size;
      return n;
    };
    return { names, dir, snapshots: await bytes(".json"), deltas: await bytes(".delta"), texts: await bytes(".txt") };
  };

  it("in a few times its final size on disk, every checkpoint loadable by another process, deltas going on after its load", async () => {
    directory = await mkdtemp(join(tmpdir(), "file-delta-"));
    const saved = new Map<string, Conversation>();
    const converse = async (cp: FileCheckpointer<Conversation>, from: number, to: number) => {
      let state = (await cp.load("long")) ?? { messages: [] };
      for (let i = from; i < to; i++) {
        state = { messages: [...state.messages, turn(i)] };
        saved.set(await cp.save(state, "long"), state);
      }
      return state;
    };
    const first = new FileCheckpointer<Conversation>({ directory });
    await converse(first, 0, 150);
    await first.close();
    const last = await converse(new FileCheckpointer<Conversation>({ directory }), 150, 200);

    const stored = await files();
    const finalBytes = Buffer.byteLength(JSON.stringify(last));
    const finalText = Buffer.byteLength(last.messages.map((m) => m.content).join("\n"));
    // The policy's bound: documents at most 3x the final one; each line of search text once.
    expect((stored.snapshots + stored.deltas) / finalBytes).toBeLessThan(3);
    expect(stored.names.filter((f) => f.endsWith(".json")).length - 1).toBeLessThan(12);
    expect(stored.texts / finalText).toBeLessThan(1.05);
    // The second process loaded the latest, then went on in deltas: no snapshot of turn 150.
    const index = JSON.parse(await readFile(join(stored.dir, "index.json"), "utf8")) as { checkpoints: { snapshotSeq?: number }[] };
    expect(index.checkpoints[150]!.snapshotSeq).toBeDefined();

    const reader = new FileCheckpointer<Conversation>({ directory });
    for (const [id, state] of saved) expect(await reader.load("long", id)).toEqual(state);
    expect((await reader.search("topic3")).map((h) => h.threadId)).toEqual(["long"]);
    await reader.close();
  });
});
