// The Compose wiring without Docker, on a real MySQL: mysql-init/ applied as the image's
// entrypoint applies it, then the app started as its own process with the environment Compose
// gives it (its DML-only user, create-tables=false), killed with SIGKILL and started again.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freshDatabase } from "../support/databases.js";
import { APP_MAIN, cleanEnv, REPO, startAppProcess, type AppProcess } from "./support/app-process.js";
import { request, say } from "./support/in-process-app.js";

const rootUrl = inject("mysqlUrl");

/** Runs mysql-init/ against `database` like the image's first start; returns the script's output. */
function applyMysqlInit(database: string, env: Record<string, string>) {
  const result = spawnSync("bash", [join(REPO, "test/app/support/initdb.sh")], {
    env: cleanEnv({ INITDB_DIR: join(REPO, "mysql-init"), INITDB_ROOT_URL: rootUrl!, NODE: process.execPath, MYSQL_DATABASE: database, ...env }),
    encoding: "utf8",
  });
  return { status: result.status, output: result.stdout + result.stderr };
}

describe.skipIf(!rootUrl)("Compose wiring on a real MySQL (no Docker)", () => {
  const appUser = `app_${randomBytes(4).toString("hex")}`;
  // Every character that breaks a URL or an SQL string literal, as a careless .env might hold.
  const appPassword = `p@ss:w/rd?'"\\ $HOME %41#`;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let workDir: string;
  let appEnv: Record<string, string>;
  const running: AppProcess[] = [];

  /** The app as Compose runs it: its own user, tables made by mysql-init, a free port. */
  async function startApp(): Promise<AppProcess> {
    const app = await startAppProcess(...APP_MAIN, { cwd: workDir, env: appEnv });
    running.push(app);
    return app;
  }

  beforeAll(async () => {
    db = await freshDatabase(rootUrl!, "compose");
    workDir = mkdtempSync(join(tmpdir(), "compose-app-"));
    const init = applyMysqlInit(db.name, { APP_DB_USER: appUser, APP_DB_PASSWORD: appPassword });
    expect(init.output).toContain(`Creating application user ${appUser}`);
    expect(init.status).toBe(0);
    const server = new URL(rootUrl!);
    appEnv = cleanEnv({
      HOST: "127.0.0.1",
      PORT: "0",
      MYSQL_URL: `mysql://${appUser}@${server.host}/${db.name}?create-tables=false`,
      MYSQL_PASSWORD: appPassword,
    });
  });

  afterAll(async () => {
    for (const app of running) app.child.kill("SIGKILL");
    const admin = await mysql.createConnection(rootUrl!);
    try {
      await admin.query("DROP USER IF EXISTS ?@'%'", [appUser]);
    } finally {
      await admin.end();
    }
    await db?.drop();
    rmSync(workDir, { recursive: true, force: true });
  });

  it("keeps the conversation across a SIGKILL of the app (the Who am I? test)", async () => {
    const first = await startApp();
    expect((await request(first.url, "GET", "/healthz")).body).toEqual({ status: "ok", checkpointer: "mysql" });
    const hello = await say(first.url, "user-42", "My name is Alex");
    expect(hello.status).toBe(200);

    first.child.kill("SIGKILL");
    expect(await first.exited).toEqual({ code: null, signal: "SIGKILL" });

    const second = await startApp();
    const before = await request(second.url, "GET", "/threads/user-42");
    expect(before.body).toEqual({
      threadId: "user-42",
      checkpointId: hello.body.checkpointId,
      messages: [
        { role: "user", content: "My name is Alex" },
        { role: "assistant", content: hello.body.reply.content },
      ],
    });

    const who = await say(second.url, "user-42", "Who am I?");
    expect(who.status).toBe(200);
    expect(who.body.reply.content).toContain("Alex");
    const after = await request(second.url, "GET", "/threads/user-42");
    expect(after.body.messages.map((m: { content: string }) => m.content)).toEqual([
      "My name is Alex",
      hello.body.reply.content,
      "Who am I?",
      who.body.reply.content,
    ]);

    // Logs name the database and user, never the password.
    expect(first.output()).toContain(`mysql://${appUser}:***@`);
    expect(first.output() + second.output()).not.toContain(appPassword);
  });

  it("two app processes on one thread keep every message (compare-and-set in MySQL)", async () => {
    const [a, b] = [await startApp(), await startApp()];
    const contents = Array.from({ length: 12 }, (_, i) => `replica turn ${i}`);
    const results = await Promise.all(contents.map((c, i) => say((i % 2 ? b : a).url, "shared", c)));
    expect(results.map((r) => r.status)).toEqual(contents.map(() => 200));

    const thread = await request(a.url, "GET", "/threads/shared");
    const users = thread.body.messages.filter((m: { role: string }) => m.role === "user").map((m: { content: string }) => m.content);
    expect(users.sort()).toEqual([...contents].sort());
    expect(thread.body.messages).toHaveLength(contents.length * 2);
  });

  it("shuts down cleanly on SIGTERM", async () => {
    const app = await startApp();
    app.child.kill("SIGTERM");
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(app.output()).toMatch(/"clean":true,"msg":"shutdown complete"/);
  });

  it("the app's user has data rights on its own database only: no CREATE, DROP or ALTER", async () => {
    const server = new URL(rootUrl!);
    const conn = await mysql.createConnection({
      host: server.hostname,
      port: Number(server.port),
      user: appUser,
      password: appPassword,
      database: db.name,
    });
    try {
      const [grants] = await conn.query<mysql.RowDataPacket[]>("SHOW GRANTS");
      const text = grants.map((row) => Object.values(row)[0]).join("\n");
      expect(text).toContain(`GRANT SELECT, INSERT, UPDATE, DELETE ON \`${db.name.replace(/_/g, "\\_")}\`.* TO`);
      expect(text).not.toMatch(/ALL PRIVILEGES|CREATE|DROP|ALTER/);
      await expect(conn.query("SELECT COUNT(*) FROM cp_threads")).resolves.toBeDefined();
      await expect(conn.query("CREATE TABLE intruder (id INT PRIMARY KEY)")).rejects.toMatchObject({ code: "ER_TABLEACCESS_DENIED_ERROR" });
      await expect(conn.query("DROP TABLE cp_threads")).rejects.toMatchObject({ code: "ER_TABLEACCESS_DENIED_ERROR" });
      await expect(conn.query("ALTER TABLE cp_threads ADD COLUMN x INT")).rejects.toMatchObject({ code: "ER_TABLEACCESS_DENIED_ERROR" });
      await expect(conn.query("SELECT * FROM mysql.user")).rejects.toMatchObject({ code: "ER_TABLEACCESS_DENIED_ERROR" });
    } finally {
      await conn.end();
    }
  });
});

describe.skipIf(!rootUrl)("mysql-init/002-app-user.sh without APP_DB_USER", () => {
  it("creates no user, says so, and lets the init finish", async () => {
    const db = await freshDatabase(rootUrl!, "nouser");
    try {
      const init = applyMysqlInit(db.name, {});
      expect(init.status).toBe(0);
      expect(init.output).toMatch(/\[Note\] \[Entrypoint\]: APP_DB_USER is not set: no application user created/);
      const admin = await mysql.createConnection(rootUrl!);
      try {
        const [tables] = await admin.query<mysql.RowDataPacket[]>("SHOW TABLES FROM ??", [db.name]);
        expect(tables.map((row) => Object.values(row)[0])).toContain("cp_schema_migrations");
      } finally {
        await admin.end();
      }
    } finally {
      await db.drop();
    }
  });
});
