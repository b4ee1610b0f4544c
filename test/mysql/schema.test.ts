import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { CheckpointerError, mysqlCheckpointer, MySQLConfig, SCHEMA_VERSION } from "../../checkpointer/index.js";
import { mysqlDialect } from "../../checkpointer/mysql/sql.js";
import type { AnyStatement } from "../../checkpointer/statement.js";
import { tableNames } from "../../checkpointer/mysql/schema.js";
import { metadataPairHash } from "../../checkpointer/mysql/backend.js";
import { freshDatabase } from "../support/databases.js";

const rootUrl = inject("mysqlUrl");

describe.skipIf(!rootUrl)("MySQL schema management", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let admin: mysql.Connection;
  const users: string[] = [];

  beforeAll(async () => {
    db = await freshDatabase(rootUrl!, "schema");
    admin = await mysql.createConnection({ uri: db.url, multipleStatements: true });
  });
  afterAll(async () => {
    for (const user of users) await admin.query(`DROP USER IF EXISTS '${user}'@'%'`);
    await admin.end();
    await db.drop();
  });

  /** A user with DML rights only on the test database, as the Compose stack's app user. */
  async function dmlUser(): Promise<{ user: string; password: string }> {
    const user = `dml_${randomBytes(4).toString("hex")}`;
    const password = `pw-${randomBytes(8).toString("hex")}`;
    await admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
    await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON \`${db.name}\`.* TO '${user}'@'%'`);
    users.push(user);
    return { user, password };
  }

  const config = (prefix: string, extra: Partial<ConstructorParameters<typeof MySQLConfig>[0]> = {}) =>
    MySQLConfig.fromUrl(db.url).with({ tablePrefix: prefix, ...extra });

  it("creates the tables and records the schema version on first use", async () => {
    const prefix = `s${randomBytes(3).toString("hex")}_`;
    const cp = mysqlCheckpointer(config(prefix));
    await cp.save({ messages: [] }, "t1");
    const [rows] = await admin.query<mysql.RowDataPacket[]>(`SELECT version, name FROM \`${prefix}schema_migrations\` ORDER BY version`);
    expect(rows.map((r) => r.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    await cp.close();
  });

  it("migrates once when many replicas start at the same time", async () => {
    const prefix = `s${randomBytes(3).toString("hex")}_`;
    const replicas = Array.from({ length: 6 }, () => mysqlCheckpointer(config(prefix)));
    await Promise.all(replicas.map((cp, i) => cp.save({ messages: [] }, `t${i}`)));
    const [rows] = await admin.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${prefix}schema_migrations\``);
    expect(rows[0]!.n).toBe(SCHEMA_VERSION);
    expect(await replicas[0]!.listThreads()).toHaveLength(6);
    await Promise.all(replicas.map((cp) => cp.close()));
  });

  it("works with DML rights only once the tables exist (the mysql-init/ SQL applied by root)", async () => {
    await admin.query(readFileSync("mysql-init/001-checkpointer-schema.sql", "utf8"));
    const { user, password } = await dmlUser();
    const cp = mysqlCheckpointer(config("cp_", { user, password }));
    const id = await cp.save({ messages: [{ role: "user", content: "least privilege" }] }, "t1", { metadata: { m: 1 } });
    expect(await cp.getMetadata("t1")).toMatchObject({ checkpointId: id, metadata: { m: 1 } });
    expect(await cp.search("privilege")).toHaveLength(1);
    await cp.close();
  });

  it("throws SCHEMA, saying what to run, when tables are missing and cannot be created", async () => {
    const { user, password } = await dmlUser();
    const prefix = `s${randomBytes(3).toString("hex")}_`;
    for (const cp of [mysqlCheckpointer(config(prefix, { user, password })), mysqlCheckpointer(config(prefix, { createTables: false }))]) {
      const error = await cp.save({ messages: [] }, "t1").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CheckpointerError);
      expect((error as CheckpointerError).code).toBe("SCHEMA");
      // What to run, in terms a copy of the module has (not this template's mysql-init/).
      expect((error as Error).message).toContain("renderSchemaSql(");
      expect((error as Error).message).not.toContain("mysql-init");
      expect((error as Error).message).not.toContain(password);
      await cp.close();
    }
    const [tables] = await admin.query<mysql.RowDataPacket[]>("SHOW TABLES LIKE ?", [`${prefix}%`]);
    expect(tables).toHaveLength(0);
  });

  it("answers every hot query from an index, never a full scan", async () => {
    const prefix = `x${randomBytes(3).toString("hex")}_`;
    const cp = mysqlCheckpointer(config(prefix));
    // Enough rows that the optimizer prefers indexes for real.
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          cp.save({ messages: [{ role: "user", content: `note ${batch}-${i} about apples` }] }, `user${i % 20}:thread${batch}-${i}`, { metadata: { team: `t${i % 10}` } }),
        ),
      );
    }
    const tables = tableNames(prefix);
    // Fresh statistics: on a new server InnoDB may not have sampled the just-filled tables yet.
    await admin.query(`ANALYZE TABLE \`${tables.threads}\`, \`${tables.checkpoints}\``);
    const sql = mysqlDialect(tables).statements;
    const now = new Date();
    const threadId = "user1:thread0-1";
    const realId = (await cp.getMetadata(threadId))!.checkpointId;
    const [{ seq }] = (await admin.query<mysql.RowDataPacket[]>(`SELECT seq FROM \`${tables.checkpoints}\` WHERE thread_id = ?`, [threadId]))[0] as [{ seq: number }];
    const plans: Record<string, [AnyStatement, Record<string, unknown>]> = {
      claimThread: [sql.claimThread, { threadId, checkpointId: realId, now }],
      loadLatest: [sql.loadLatest, { threadId, now }],
      loadById: [sql.loadById, { threadId, checkpointId: realId, now }],
      textRun: [sql.textRun, { threadId, seq }],
      listCheckpoints: [sql.listCheckpoints, { threadId, now, limit: "10" }],
      listThreads: [sql.listThreads, { prefix: "", prefixEnd: null, now, limit: "10" }],
      listThreadsPrefix: [sql.listThreads, { prefix: "user1:", prefixEnd: "user1;", now, limit: "10" }],
      queryByMetadata: [sql.queryByMetadata, { pairHash: metadataPairHash("team", "t3"), now, limit: "10" }],
      search: [sql.search, { query: "apples", prefix: "", now, limit: "10" }],
    };
    for (const [name, [statement, params]] of Object.entries(plans)) {
      const text = statement.texts.at(-1)!;
      const [rows] = await admin.execute<mysql.RowDataPacket[]>({ sql: `EXPLAIN FORMAT=TREE ${text}`, namedPlaceholders: true }, params as never);
      const plan = String(rows[0]!.EXPLAIN);
      // `h` and `page` are derived tables of at most `limit` rows, and `<temporary>` search's
      // window-function buffer of matching rows; any other scan is a full table scan.
      expect(plan, `${name}:\n${plan}`).not.toMatch(/Table scan on (?!h\b|page\b|<temporary>)/);
      // "Rows fetched before execution": a unique-key lookup the optimizer already resolved.
      expect(plan, name).toMatch(/index|Index|Rows fetched before execution/);
    }
    await cp.close();
  });
});
