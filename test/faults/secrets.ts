// 6. The MySQL password in MYSQL_URL, searched for in everything the app prints and answers.
import { randomBytes } from "node:crypto";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freshDatabase } from "../support/databases.js";
import { startApp } from "./support/fault-app.js";
import type { ReliabilityReport } from "./support/report.js";

export function secrets(report: ReliabilityReport): void {
  const rootUrl = inject("mysqlUrl");
  describe.skipIf(!rootUrl)("6. the MySQL password stays secret", () => {
    const user = `fault_${randomBytes(4).toString("hex")}`;
    // A random core to search for, wrapped in characters that need URL- and SQL-escaping.
    const core = randomBytes(9).toString("hex");
    const password = `Pw-${core}-:/?#@'"\\ %41`;
    const wrongPassword = `Wrong-${randomBytes(9).toString("hex")}`;
    let db: Awaited<ReturnType<typeof freshDatabase>>;

    const admin = async (work: (conn: mysql.Connection) => Promise<unknown>) => {
      const conn = await mysql.createConnection(rootUrl!);
      try {
        await work(conn);
      } finally {
        await conn.end();
      }
    };
    beforeAll(async () => {
      db = await freshDatabase(rootUrl!, "fault_secret");
      await admin(async (conn) => {
        await conn.query("CREATE USER ?@'%' IDENTIFIED BY ?", [user, password]);
        await conn.query(`GRANT ALL ON \`${db.name}\`.* TO ?@'%'`, [user]);
      });
    });
    afterAll(async () => {
      await admin((conn) => conn.query("DROP USER IF EXISTS ?@'%'", [user]));
      await db?.drop();
    });

    it("appears in no log line, error message, stack trace or HTTP response: right, wrong, unreachable or unusable", async () => {
      const server = new URL(rootUrl!);
      const urlWith = (pw: string, host = server.host) => `mysql://${user}:${encodeURIComponent(pw)}@${host}/${db.name}`;
      const answers: string[] = [];
      /** One request; its status, headers and body are kept for the search. */
      const call = async (base: string, method: string, path: string, body?: string) => {
        const res = await fetch(base + path, { method, headers: { "content-type": "application/json" }, ...(body !== undefined && { body }) });
        answers.push(`${res.status} ${JSON.stringify([...res.headers])} ${await res.text()}`);
        return res.status;
      };
      const turn = (base: string, content = "hello") => call(base, "POST", "/threads/t/messages", JSON.stringify({ content }));

      // The right password, with every log line on, through every kind of answer.
      const good = await startApp({ MYSQL_URL: urlWith(password), LOG_LEVEL: "trace" });
      expect(await call(good.url, "GET", "/healthz")).toBe(200);
      expect(await turn(good.url, "My name is Alex")).toBe(200);
      expect(await call(good.url, "GET", "/threads/t")).toBe(200);
      expect(await call(good.url, "GET", "/threads")).toBe(200);
      expect(await call(good.url, "GET", "/threads/nobody")).toBe(404);
      expect(await call(good.url, "POST", "/threads/t/messages", "{oops")).toBe(400);
      expect(await turn(good.url, "x".repeat(100_000))).toBe(413);
      expect(await call(good.url, "POST", "/threads/t/fork", JSON.stringify({ to: "t" }))).toBe(400);
      expect(await call(good.url, "GET", "/threads/%FF")).toBe(400);
      good.child.kill("SIGTERM");
      expect(await good.exited).toEqual({ code: 0, signal: null });
      expect(good.output()).toContain(`mysql://${user}:***@`);

      // A wrong password: every login is refused.
      const denied = await startApp({ MYSQL_URL: urlWith(wrongPassword), LOG_LEVEL: "trace" });
      expect(await call(denied.url, "GET", "/healthz")).toBe(503);
      expect(await turn(denied.url)).toBe(503);
      expect(await call(denied.url, "GET", "/threads")).toBe(503);
      expect(denied.output()).toContain("ER_ACCESS_DENIED_ERROR");
      expect(denied.output()).toContain('"stack":"CheckpointerError: MySQL is unavailable');

      // MySQL down: nothing listens where the URL points.
      const down = await startApp({ MYSQL_URL: urlWith(password, "127.0.0.1:1"), LOG_LEVEL: "trace" });
      expect(await call(down.url, "GET", "/healthz")).toBe(503);
      expect(await turn(down.url)).toBe(503);
      expect(down.output()).toContain("ECONNREFUSED");

      // A URL the app cannot use stops it at start-up: the configuration check (exit 2) names MYSQL_URL.
      const unusable = await startApp({ MYSQL_URL: urlWith(password, "127.0.0.1:99999") }).then(
        () => "started",
        (error: Error) => error.message,
      );
      expect(unusable).toMatch(/exited \(code 2[\s\S]*invalid configuration: [\s\S]*MYSQL_URL: not a valid mysql:\/\/ URL/);

      const captured = [good.output(), denied.output(), down.output(), unusable, ...answers];
      for (const text of captured) {
        for (const secret of [password, encodeURIComponent(password), core, wrongPassword]) expect(text).not.toContain(secret);
      }

      const lines = captured.slice(0, 4).join("\n").split("\n").length;
      report.record(6, {
        title: "Secrets: the MySQL password in MYSQL_URL",
        facts: [
          `Four app processes with a password in MYSQL_URL (random, with characters that need URL and SQL escaping): the right one ` +
            `at LOG_LEVEL=trace through 200, 400, 404 and 413 answers and a SIGTERM; a wrong one (every login refused); MySQL unreachable; ` +
            `and a URL the app cannot parse, which stops it at start-up.`,
          `Searched ${lines} lines of their stdout and stderr (errors with stack traces included) and ${answers.length} HTTP responses ` +
            `(status, headers, body) for the password, its URL-encoded form and its random core: not found. The log shows the URL as ` +
            `mysql://${user.replace(/[0-9a-f]+$/, "…")}:***@….`,
          `The MySQL outage of scenario 1 ran with a password in MYSQL_URL too; its log and responses were searched the same way.`,
        ],
      });
    }, 120_000);
  });
}
