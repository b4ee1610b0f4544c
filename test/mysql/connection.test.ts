import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:net";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { CheckpointerError, mysqlCheckpointer, MySQLConfig } from "../../checkpointer/index.js";
import { freshDatabase } from "../support/databases.js";
import { caught } from "../support/caught.js";

const rootUrl = inject("mysqlUrl");
const SECRET = `S3cret-${randomBytes(6).toString("hex")}`;

describe("MySQL connections without a server", () => {
  it("fail fast with UNAVAILABLE when nothing listens", async () => {
    const cp = mysqlCheckpointer(`mysql://app:${SECRET}@127.0.0.1:1/agent?connect-timeout=2000`);
    const started = Date.now();
    const error = await caught(cp.load("t1"));
    expect(error.code).toBe("UNAVAILABLE");
    expect(Date.now() - started).toBeLessThan(5000);
    for (const text of [error.message, error.stack, JSON.stringify(error.cause)]) expect(text).not.toContain(SECRET);
    await cp.close();
  });
});

describe("MySQL connections to a server that never answers", () => {
  let silent: Server;
  let port: number;
  beforeAll(async () => {
    // Accepts TCP connections and never sends the MySQL handshake.
    silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    port = (silent.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => silent.close(() => resolve())));

  it("close() during a pending connect resolves, and the pending call fails typed", async () => {
    const cp = mysqlCheckpointer(`mysql://root@127.0.0.1:${port}/agent?connect-timeout=3000`);
    const pending = cp.exists("t1").catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await expect(cp.close()).resolves.toBeUndefined();
    const error = await pending;
    expect(error).toBeInstanceOf(CheckpointerError);
    expect((error as CheckpointerError).code).toBe("UNAVAILABLE");
  });
});

describe.skipIf(!rootUrl)("MySQL connections", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let admin: mysql.Connection;

  beforeAll(async () => {
    db = await freshDatabase(rootUrl!, "conn");
    admin = await mysql.createConnection(rootUrl!);
  });
  afterAll(async () => {
    await admin.end();
    await db.drop();
  });

  it("creates one pool lazily, even under concurrent first calls", async () => {
    const createPool = vi.spyOn(mysql, "createPool");
    const cp = mysqlCheckpointer(MySQLConfig.fromUrl(db.url).with({ connectionLimit: 4 }));
    expect(createPool).not.toHaveBeenCalled();
    await Promise.all(Array.from({ length: 20 }, (_, i) => cp.save({ messages: [] }, `t${i}`)));
    expect(createPool).toHaveBeenCalledTimes(1);
    const [rows] = await admin.query<mysql.RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = ?", [db.name]);
    expect(rows[0]!.n).toBeLessThanOrEqual(4);
    await cp.close();
    createPool.mockRestore();
  });

  it("reports UNAVAILABLE when connections die, and the next call reconnects", async () => {
    const cp = mysqlCheckpointer(db.url);
    await cp.save({ messages: [{ role: "user", content: "before" }] }, "t1");
    const [conns] = await admin.query<mysql.RowDataPacket[]>("SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()", [db.name]);
    expect(conns.length).toBeGreaterThan(0);
    for (const { id } of conns) await admin.query(`KILL ${Number(id)}`);
    const outcomes: string[] = [];
    for (let i = 0; i < 3; i++) {
      outcomes.push(await cp.load("t1").then((s) => (s ? "ok" : "missing"), (e: CheckpointerError) => e.code));
    }
    expect(outcomes.every((o) => o === "ok" || o === "UNAVAILABLE")).toBe(true);
    expect(outcomes.at(-1)).toBe("ok");
    await cp.close();
  });

  it("keeps the password out of errors for a wrong password", async () => {
    const url = new URL(db.url);
    url.username = "root";
    url.password = SECRET;
    const cp = mysqlCheckpointer(url.toString());
    const error = await caught(cp.load("t1"));
    expect(error.code).toBe("UNAVAILABLE");
    for (const text of [error.message, error.stack, JSON.stringify(error.cause), String(error)]) expect(text).not.toContain(SECRET);
    await cp.close();
  });

  it("says SCHEMA, not UNAVAILABLE, for a database that does not exist: retrying will not create it", async () => {
    const url = new URL(db.url);
    url.pathname = `/no_such_db_${randomBytes(4).toString("hex")}`;
    const cp = mysqlCheckpointer(url.toString());
    const error = await caught(cp.load("t1"));
    expect(error.code).toBe("SCHEMA");
    expect(error.message).toMatch(/database in the MySQL URL does not exist.*ER_BAD_DB_ERROR/);
    await cp.close();
  });

  it("says SCHEMA for a statement the server refuses (a table changed by hand), and keeps serving", async () => {
    const cp = mysqlCheckpointer(MySQLConfig.fromUrl(db.url).with({ tablePrefix: `alt${randomBytes(3).toString("hex")}_` }));
    await cp.save({ messages: [] }, "t1");
    await admin.query(`ALTER TABLE \`${db.name}\`.\`${cp.backend.tables.checkpoints}\` RENAME COLUMN search_text TO renamed_text`);
    const error = await caught(cp.save({ messages: [] }, "t1"));
    expect(error.code).toBe("SCHEMA");
    expect(error.message).toMatch(/MySQL refused the checkpointer's statement.*ER_BAD_FIELD_ERROR/);
    expect(await cp.exists("t1")).toBe(true);
    await cp.close();
  });

  it("refuses a checkpoint over max_allowed_packet with TOO_LARGE, keeping the earlier state and the pool", async () => {
    const cp = mysqlCheckpointer(db.url);
    await cp.save({ messages: [{ role: "user", content: "small" }] }, "big");
    const [[row]] = await admin.query<mysql.RowDataPacket[]>("SELECT @@max_allowed_packet AS p");
    const huge = { messages: [{ role: "user", content: "x".repeat(Number(row!.p)) }] };
    const error = await caught(cp.save(huge, "big"));
    expect(error.code).toBe("TOO_LARGE");
    expect(error.message).toContain(`max_allowed_packet is ${row!.p} bytes`);
    expect(await cp.load("big")).toEqual({ messages: [{ role: "user", content: "small" }] });
    expect(await cp.listCheckpoints("big")).toHaveLength(1);
    await cp.save({ messages: [{ role: "user", content: "still serving" }] }, "big");
    expect(await cp.listCheckpoints("big")).toHaveLength(2);
    await cp.close();
  });
});
