// MySQLSaver where the template is deployed: replicas, each a saver with its own pool and cache,
// taking turns on one thread, loading the checkpoint by id before each put (as a graph resumed on
// another replica does). Every checkpoint reads back exactly, from either replica, and a channel
// that grows is still stored as splices. (Separate processes: test/langgraph/interrupt-resume.test.ts.)
import { emptyCheckpoint, uuid6, type Checkpoint, type CheckpointMetadata } from "@langchain/langgraph-checkpoint";
import type { RunnableConfig } from "@langchain/core/runnables";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { MySQLSaver } from "../../checkpointer/langgraph/index.js";
import { freshDatabase } from "../support/databases.js";

const url = inject("mysqlUrl");
const meta = (step: number): CheckpointMetadata => ({ source: "loop", step, parents: {} });

describe.skipIf(!url)("MySQLSaver replicas taking turns on a thread", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  const savers: MySQLSaver[] = [];
  beforeAll(async () => {
    db = await freshDatabase(url!, "lgreplicas");
  });
  afterAll(async () => {
    await Promise.all(savers.map((s) => s.end()));
    await db?.drop();
  });
  const open = () => {
    const saver = MySQLSaver.fromConnString(db.url);
    savers.push(saver);
    return saver;
  };

  it("alternate puts, each after a getTuple by id on the other replica's checkpoint, one replica restarted", async () => {
    const one = open();
    const replicas = [one, one];
    await replicas[0]!.setup();
    let config: RunnableConfig = { configurable: { thread_id: "shared", checkpoint_ns: "" } };
    const saved: { config: RunnableConfig; messages: string[] }[] = [];
    let messages: string[] = [];
    for (let step = 0; step < 40; step++) {
      // if (step === 20) replicas[1] = open();
      const saver = replicas[step % 2]!;
      if (saved.length > 0) {
        const tuple = await saver.getTuple(saved.at(-1)!.config);
        expect(tuple?.checkpoint.channel_values).toEqual({ messages });
      }
      messages = [...messages, `step ${step}: ${"words ".repeat(40)}`];
      const checkpoint: Checkpoint = { ...emptyCheckpoint(), id: uuid6(step), channel_values: { messages }, channel_versions: { messages: step + 1 } };
      config = await saver.put(config, checkpoint, meta(step), { messages: step + 1 });
      saved.push({ config, messages });
    }
    for (const { config: at, messages: expected } of saved) {
      for (const saver of replicas) expect((await saver.getTuple(at))?.checkpoint.channel_values).toEqual({ messages: expected });
    }
    const conn = await mysql.createConnection(db.url);
    try {
      const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT base_version FROM cp_lg_blobs WHERE thread_id = 'shared' AND channel = 'messages'");
      // Whole values where the policy wants one, not at each switch of replica.
      expect(rows).toHaveLength(40);
      expect(rows.filter((r) => r.base_version === null).length).toBeLessThan(8);
    } finally {
      await conn.end();
    }
  });
});
