// At start-up the app asks its store one question and logs the answer: a wrong MYSQL_URL is an
// error line within 5 s naming host:port and the reason (never the password), and the app keeps
// running, answering /healthz with 503.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { APP_MAIN, cleanEnv, startAppProcess, type AppProcess } from "./support/app-process.js";

const rootUrl = inject("mysqlUrl");
const SECRET = `pw-${randomBytes(8).toString("hex")}`;

interface LogLine {
  level: number;
  time: number;
  msg: string;
  [field: string]: unknown;
}

const lines = (app: AppProcess): LogLine[] =>
  app
    .output()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as LogLine);

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("the start-up check of the store", () => {
  let data: string;
  let app: AppProcess | undefined;
  beforeAll(() => void (data = mkdtempSync(join(tmpdir(), "store-check-"))));
  afterAll(() => rmSync(data, { recursive: true, force: true }));
  afterEach(async () => {
    app?.child.kill("SIGKILL");
    await app?.exited;
    app = undefined;
  });

  /** Starts the app on `mysqlUrl` and returns its first error line, which must come within 5 s of its first log line. */
  async function startupError(mysqlUrl: string): Promise<LogLine> {
    app = await startAppProcess(...APP_MAIN, { cwd: data, env: cleanEnv({ PORT: "0", DATA_DIR: data, MYSQL_URL: mysqlUrl }) });
    const started = lines(app)[0]!.time;
    const error = await vi.waitFor(
      () => {
        const found = lines(app!).find((line) => line.level >= 50);
        if (!found) throw new Error("no error line yet");
        return found;
      },
      { timeout: 8_000, interval: 50 },
    );
    expect(error.time - started).toBeLessThan(5_000);
    expect(app.output()).not.toContain(SECRET);
    // Still serving: the health check says the store is unavailable.
    const health = await fetch(`${app.url}/healthz`);
    expect(health.status).toBe(503);
    return error;
  }

  it("names host:port and the reason when nothing listens there", async () => {
    const port = await closedPort();
    const error = await startupError(`mysql://app:${SECRET}@127.0.0.1:${port}/agent`);
    expect(error).toMatchObject({ level: 50, store: `127.0.0.1:${port}`, code: "UNAVAILABLE" });
    expect(error.msg).toContain(`127.0.0.1:${port}`);
    expect(error.msg).toMatch(/ECONNREFUSED/);
    expect(error.url).toBe(`mysql://app:***@127.0.0.1:${port}/agent`);
  });

  describe("a server that accepts connections and never answers", () => {
    let silent: Server;
    let port: number;
    const sockets = new Set<Socket>();
    beforeAll(async () => {
      silent = createServer((socket) => void sockets.add(socket));
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
      port = (silent.address() as { port: number }).port;
    });
    afterAll(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => silent.close(() => resolve()));
    });

    it("is an error within 5 s too, though the driver would wait 10 s", async () => {
      const error = await startupError(`mysql://app:${SECRET}@127.0.0.1:${port}/agent`);
      expect(error).toMatchObject({ level: 50, store: `127.0.0.1:${port}` });
      expect(error.msg).toMatch(/no answer within \d+ ms/);
    });
  });

  describe.skipIf(!rootUrl)("on a real MySQL server", () => {
    it("names host:port and the refused login when the password is wrong", async () => {
      const url = new URL(rootUrl!);
      url.password = SECRET;
      const error = await startupError(url.href);
      const where = `${url.hostname}:${url.port || 3306}`;
      expect(error).toMatchObject({ level: 50, store: where, code: "UNAVAILABLE" });
      expect(error.msg).toContain(where);
      expect(error.msg).toMatch(/Access denied for user/);
    });

    it("says the store answers, and logs no error, when the URL is right", async () => {
      app = await startAppProcess(...APP_MAIN, { cwd: data, env: cleanEnv({ PORT: "0", DATA_DIR: data, MYSQL_URL: rootUrl! }) });
      const url = new URL(rootUrl!);
      await vi.waitFor(() => expect(lines(app!).some((l) => l.msg === "the conversation store answers")).toBe(true), { timeout: 8_000 });
      expect(lines(app).find((l) => l.msg === "the conversation store answers")).toMatchObject({ level: 30, store: `${url.hostname}:${url.port || 3306}` });
      expect(lines(app).filter((l) => l.level >= 50)).toEqual([]);
      expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    });
  });
});
