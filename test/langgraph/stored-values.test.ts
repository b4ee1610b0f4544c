// How MySQLSaver keeps channel values in lg_blobs: compressed when that is smaller, each row
// naming its base and recording the length and CRC-32 of the value it rebuilds, so a damaged
// chain is reported as CORRUPT instead of read as a wrong value; rows from before schema v5
// (no checks, never compressed) are still read.
import { crc32, inflateRawSync } from "node:zlib";
import { emptyCheckpoint, uuid6, type Checkpoint, type CheckpointMetadata } from "@langchain/langgraph-checkpoint";
import type { RunnableConfig } from "@langchain/core/runnables";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { isCheckpointerError } from "../../checkpointer/errors.js";
import { MySQLSaver } from "../../checkpointer/langgraph/index.js";
import { tableNames } from "../../checkpointer/mysql/schema.js";
import { freshDatabase } from "../support/databases.js";

const url = inject("mysqlUrl");
const meta = (step: number): CheckpointMetadata => ({ source: "loop", step, parents: {} });

function checkpoint(values: Record<string, unknown>, versions: Record<string, number>): Checkpoint {
  return { ...emptyCheckpoint(), id: uuid6(3), channel_values: values, channel_versions: versions };
}

interface BlobRow extends mysql.RowDataPacket {
  version: string;
  base_version: string | null;
  data: Buffer;
  encoding: number;
  doc_bytes: number | null;
  doc_crc32: number | null;
}

const corrupt = (e: unknown) => isCheckpointerError(e, "CORRUPT");

describe.skipIf(!url)("MySQLSaver stored values", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let saver: MySQLSaver;
  let admin: mysql.Connection;
  const blobs = `\`${tableNames("cp_").lgBlobs}\``;

  beforeAll(async () => {
    db = await freshDatabase(url!, "lgstored");
    saver = MySQLSaver.fromConnString(db.url);
    await saver.setup();
    admin = await mysql.createConnection(db.url);
  });
  afterAll(async () => {
    await saver?.end();
    await admin?.end();
    await db?.drop();
  });

  /** A conversation: a long first message (the snapshot), then short ones (each a splice of the value before). */
  async function conversation(threadId: string, steps: number) {
    let config: RunnableConfig = { configurable: { thread_id: threadId } };
    const messages = [`system: ${"be brief and kind. ".repeat(300)}`];
    const puts: { config: RunnableConfig; values: Record<string, unknown> }[] = [];
    for (let step = 1; step <= steps; step++) {
      messages.push(`turn ${step}: ${step % 2 ? "user" : "assistant"} says something new`);
      const values = { messages: [...messages], step };
      config = await saver.put(config, checkpoint(values, { messages: step, step }), meta(step), { messages: step, step });
      puts.push({ config, values });
    }
    return puts;
  }

  const rows = async (threadId: string, channel = "messages") => {
    const [found] = await admin.query<BlobRow[]>(
      `SELECT version, base_version, data, encoding, doc_bytes, doc_crc32 FROM ${blobs} WHERE thread_id = ? AND channel = ?`,
      [threadId, channel],
    );
    return found;
  };

  /** The rows of the latest value's chain, latest first (followed by base_version, as the saver does). */
  const latestChain = async (threadId: string) => {
    const tuple = await saver.getTuple({ configurable: { thread_id: threadId } });
    const byVersion = new Map((await rows(threadId)).map((r) => [r.version, r]));
    const chain: BlobRow[] = [];
    for (let v: string | null = String(tuple!.checkpoint.channel_versions.messages); v !== null; v = byVersion.get(v)!.base_version) chain.push(byVersion.get(v)!);
    return chain;
  };

  const setData = (threadId: string, version: string, data: Buffer) =>
    admin.execute(`UPDATE ${blobs} SET data = ? WHERE thread_id = ? AND channel = 'messages' AND version = ?`, [data, threadId, version]);

  it("compresses a large value (encoding 1, fewer bytes than the value) and reads it back; a small one stays as it is", async () => {
    const big = { text: "the same paragraph again and again. ".repeat(2000), numbers: Array.from({ length: 500 }, (_, i) => i) };
    const saved = await saver.put({ configurable: { thread_id: "compress" } }, checkpoint({ big, small: "tiny" }, { big: 1, small: 1 }), meta(0), { big: 1, small: 1 });
    const [bigRow] = await rows("compress", "big");
    const [smallRow] = await rows("compress", "small");
    const raw = Buffer.from(JSON.stringify(big));
    expect(bigRow!.encoding).toBe(1);
    expect(bigRow!.data.length).toBeLessThan(raw.length / 10);
    expect(inflateRawSync(bigRow!.data).length).toBe(Number(bigRow!.doc_bytes));
    expect(Number(bigRow!.doc_crc32)).toBe(crc32(inflateRawSync(bigRow!.data)));
    expect(smallRow).toMatchObject({ encoding: 0, doc_bytes: smallRow!.data.length, doc_crc32: crc32(smallRow!.data) });
    const other = MySQLSaver.fromConnString(db.url);
    try {
      expect((await other.getTuple(saved))?.checkpoint.channel_values).toEqual({ big, small: "tiny" });
    } finally {
      await other.end();
    }
  });

  it("stores a growing channel as a chain of splices, each row recording the value it rebuilds", async () => {
    const puts = await conversation("chain", 6);
    const chain = await latestChain("chain");
    expect(chain.length).toBe(6); // the snapshot and five splices
    expect(chain.at(-1)).toMatchObject({ base_version: null, encoding: 1 });
    for (const { config, values } of puts) expect((await saver.getTuple(config))?.checkpoint.channel_values).toEqual(values);
    const latest = puts.at(-1)!.values.messages;
    expect(Number(chain[0]!.doc_bytes)).toBe(Buffer.byteLength(JSON.stringify(latest)));
  });

  it("throws CORRUPT, not a wrong value, when a splice's bytes were altered", async () => {
    const puts = await conversation("flipped-delta", 4);
    const [top] = await latestChain("flipped-delta");
    expect(top!.base_version).not.toBeNull();
    const flipped = Buffer.from(top!.data);
    flipped[flipped.length >> 1]! ^= 0x20;
    await setData("flipped-delta", top!.version, flipped);
    await expect(saver.getTuple(puts.at(-1)!.config)).rejects.toSatisfy(corrupt);
    await expect(saver.getTuple({ configurable: { thread_id: "flipped-delta" } })).rejects.toSatisfy(corrupt);
    // Checkpoints whose chains stop below the altered row still read.
    expect((await saver.getTuple(puts.at(-2)!.config))?.checkpoint.channel_values).toEqual(puts.at(-2)!.values);
  });

  it("throws CORRUPT when a snapshot's compressed bytes were altered", async () => {
    const puts = await conversation("flipped-snapshot", 3);
    const snapshot = (await latestChain("flipped-snapshot")).at(-1)!;
    expect(snapshot.encoding).toBe(1);
    const flipped = Buffer.from(snapshot.data);
    for (let i = 8; i < flipped.length; i += 16) flipped[i]! ^= 0xff;
    await setData("flipped-snapshot", snapshot.version, flipped);
    for (const { config } of puts) await expect(saver.getTuple(config)).rejects.toSatisfy(corrupt);
  });

  it("throws CORRUPT when a row in the middle of a chain is missing", async () => {
    const puts = await conversation("missing-middle", 4);
    const chain = await latestChain("missing-middle");
    expect(chain.length).toBe(4);
    await admin.execute(`DELETE FROM ${blobs} WHERE thread_id = 'missing-middle' AND channel = 'messages' AND version = ?`, [chain[2]!.version]);
    await expect(saver.getTuple(puts.at(-1)!.config)).rejects.toSatisfy(corrupt);
    await expect(saver.getTuple(puts.at(-2)!.config)).rejects.toSatisfy(corrupt);
    await expect(saver.prune(["missing-middle"])).rejects.toSatisfy(corrupt);
    expect((await saver.getTuple(puts[0]!.config))?.checkpoint.channel_values).toEqual(puts[0]!.values);
  });

  it("throws CORRUPT when a splice does not fit its base", async () => {
    const puts = await conversation("bad-splice", 3);
    const [top] = await latestChain("bad-splice");
    await admin.execute(`UPDATE ${blobs} SET splice_prefix = 1000000 WHERE thread_id = 'bad-splice' AND channel = 'messages' AND version = ?`, [top!.version]);
    await expect(saver.getTuple(puts.at(-1)!.config)).rejects.toSatisfy(corrupt);
  });

  it("reads rows written before schema v5 (no checks, data as it is), and goes on in checked splices of them", async () => {
    const puts = await conversation("v4-rows", 5);
    // As v4 wrote them: data uncompressed, encoding 0, no recorded length or checksum.
    for (const row of await rows("v4-rows")) {
      const data = row.encoding === 1 ? inflateRawSync(row.data) : row.data;
      await admin.execute(`UPDATE ${blobs} SET data = ?, encoding = 0, doc_bytes = NULL, doc_crc32 = NULL WHERE thread_id = 'v4-rows' AND channel = 'messages' AND version = ?`, [
        data,
        row.version,
      ]);
    }
    expect((await rows("v4-rows")).every((r) => r.encoding === 0 && r.doc_bytes === null && r.doc_crc32 === null)).toBe(true);
    const other = MySQLSaver.fromConnString(db.url);
    try {
      for (const { config, values } of puts) expect((await other.getTuple(config))?.checkpoint.channel_values).toEqual(values);
      // Having read the latest, the next value is a splice of the v4 row, with checks of its own.
      const latest = (await other.getTuple({ configurable: { thread_id: "v4-rows" } }))!;
      const values = { messages: [...(puts.at(-1)!.values.messages as string[]), "turn 6: one more"], step: 6 };
      const next = await other.put(latest.config, checkpoint(values, { messages: 6, step: 6 }), meta(6), { messages: 6, step: 6 });
      const [top] = await latestChain("v4-rows");
      expect(top!.base_version).toBe(String(latest.checkpoint.channel_versions.messages));
      expect(Number(top!.doc_bytes)).toBe(Buffer.byteLength(JSON.stringify(values.messages)));
      expect((await saver.getTuple(next))?.checkpoint.channel_values).toEqual(values);
    } finally {
      await other.end();
    }
  });

  it("copies rows with their encoding and checks, and prune stores a kept splice whole, compressed, with its checks", async () => {
    const puts = await conversation("keep", 4);
    await saver.copyThread("keep", "keep-copy");
    const columns = (r: BlobRow) => [r.version, r.base_version, r.data.toString("hex"), r.encoding, r.doc_bytes, r.doc_crc32];
    const sorted = (list: BlobRow[]) => list.map(columns).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(sorted(await rows("keep-copy"))).toEqual(sorted(await rows("keep")));

    await saver.prune(["keep"]);
    const kept = await rows("keep");
    expect(kept).toHaveLength(1);
    const value = Buffer.from(JSON.stringify(puts.at(-1)!.values.messages));
    expect(kept[0]).toMatchObject({ base_version: null, encoding: 1, doc_bytes: value.length, doc_crc32: crc32(value) });
    expect(inflateRawSync(kept[0]!.data)).toEqual(value);
    expect((await saver.getTuple({ configurable: { thread_id: "keep" } }))?.checkpoint.channel_values).toEqual(puts.at(-1)!.values);
    for (const { config, values } of puts) {
      expect((await saver.getTuple({ configurable: { ...config.configurable, thread_id: "keep-copy" } }))?.checkpoint.channel_values).toEqual(values);
    }
  });
});
