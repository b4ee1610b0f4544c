// A MySQL server that turned read-only (super_read_only), as a demoted primary does, or a replica a
// stale DNS name or a static proxy still points at. The README: its errors are UNAVAILABLE (503),
// never 500; a connection that met it is dropped instead of going back to the pool; and the app's
// 5 s retry inside a turn covers the switch. super_read_only is global, which the shared test
// server must never be switched to: this file runs a MySQL container of its own (Docker), and
// skips without a Docker engine except in CI.
import mysql from "mysql2/promise";
import { pino } from "pino";
import type { StartedTestContainer } from "testcontainers";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mysqlCheckpointer } from "../../checkpointer/index.js";
import type { AgentState } from "../../app/agent/state.js";
import { say, startTestApp } from "../app/support/in-process-app.js";
import { HookedModel } from "../app/support/models.js";
import { ciSetting, isCI } from "../support/ci.js";
import { caught } from "../support/caught.js";

const docker = inject("dockerAvailable");
if (!docker && isCI()) throw new Error(`${ciSetting()}, yet no Docker engine answers for the read-only MySQL test`);
if (!docker) console.warn('[read-only] skipping: no Docker engine answers (eval "$(scripts/local-docker.sh start)" starts one)');

describe.skipIf(!docker)("a MySQL server that turns read-only (a container of the test's own)", () => {
  let container: StartedTestContainer;
  let admin: mysql.Connection;
  let appUrl: string;

  beforeAll(async () => {
    const { GenericContainer, Wait } = await import("testcontainers");
    container = await new GenericContainer("mysql:9.7")
      .withEnvironment({ MYSQL_ALLOW_EMPTY_PASSWORD: "yes", MYSQL_DATABASE: "agent" })
      // Without it each login waits for a reverse DNS lookup of the client, which on an engine
      // whose containers have no network (scripts/local-docker.sh's) outlasts the connect timeout.
      .withCommand(["--skip-name-resolve"])
      .withExposedPorts(3306)
      // The image's init server logs "ready" on port 0 first; the real one on 3306.
      .withWaitStrategy(Wait.forLogMessage(/ready for connections.*port: 3306/))
      .withStartupTimeout(180_000)
      .start();
    const server = `${container.getHost()}:${container.getMappedPort(3306)}`;
    admin = await mysql.createConnection(`mysql://root@${server}/agent`);
    // The checkpointer's own user, so its connections are the ones listed under that name.
    await admin.query("CREATE USER 'app'@'%' IDENTIFIED BY 'app-password'");
    await admin.query("GRANT ALL ON agent.* TO 'app'@'%'");
    appUrl = `mysql://app:app-password@${server}/agent`;
  });
  afterAll(async () => {
    await admin?.end();
    await container?.stop();
  });

  // super_read_only=ON turns read_only on too (the app's user has no SUPER, so either stops it);
  // read_only=OFF turns both off.
  const setReadOnly = (on: boolean) => admin.query(on ? "SET GLOBAL super_read_only = ON" : "SET GLOBAL read_only = OFF");
  /** Ids of the server's connections from the checkpointer's user. */
  const appConnections = async () =>
    (await admin.query<mysql.RowDataPacket[]>("SELECT id FROM information_schema.processlist WHERE user = 'app' ORDER BY id"))[0].map((r) => Number(r.id));

  it("a save it refuses is UNAVAILABLE, and the connection that met it is closed, not pooled; the next call reconnects", async () => {
    const cp = mysqlCheckpointer<{ n: number }>(`${appUrl}?connection-limit=1&table-prefix=ro1_`);
    try {
      const first = await cp.save({ n: 1 }, "t");
      const pooled = await appConnections();
      expect(pooled).toHaveLength(1); // the pool's one connection, idle

      await setReadOnly(true);
      try {
        const error = await caught(cp.save({ n: 2 }, "t", { parentCheckpointId: first }));
        expect(error.code).toBe("UNAVAILABLE");
        expect(error.message).toMatch(/ER_OPTION_PREVENTS_STATEMENT/);
        // A released connection would sit idle in the pool (for 60 s); a dropped one is gone at once.
        await expect.poll(appConnections, { timeout: 5_000 }).toEqual([]);
        // Reads are served on a new connection.
        expect(await cp.load("t")).toEqual({ n: 1 });
        const next = await appConnections();
        expect(next).toHaveLength(1);
        expect(next).not.toEqual(pooled);
      } finally {
        await setReadOnly(false);
      }
      const second = await cp.save({ n: 2 }, "t", { parentCheckpointId: first });
      expect(await cp.listCheckpoints("t")).toEqual([second, first]);
    } finally {
      await cp.close();
    }
  });

  it("a turn whose save meets it is retried, and acknowledged once the server is writable again within 5 s", async () => {
    const checkpointer = mysqlCheckpointer<AgentState>(`${appUrl}?table-prefix=ro2_`);
    const logs: { msg: string; error?: string }[] = [];
    let duringTurn: (() => Promise<void>) | undefined;
    const model = new HookedModel(async () => {
      const hook = duringTurn;
      duringTurn = undefined;
      await hook?.();
    });
    const logger = pino({ level: "warn" }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const app = await startTestApp({ checkpointer, checkpointerKind: "mysql", model, logger });
    try {
      const first = await say(app.url, "failover", "My name is Alex");
      expect(first.status).toBe(200);
      // Between the turn's load and its save, the server turns read-only for a second.
      duringTurn = async () => {
        await setReadOnly(true);
        setTimeout(() => void setReadOnly(false), 1_000);
      };
      const second = await say(app.url, "failover", "Who am I?");
      expect(second.status).toBe(200);
      expect(second.body.reply.content).toContain("Alex");
      expect(logs.some((l) => l.msg === "the store is unavailable; trying again" && /ER_OPTION_PREVENTS_STATEMENT/.test(l.error ?? ""))).toBe(true);
      expect(await checkpointer.listCheckpoints("failover")).toEqual([second.body.checkpointId, first.body.checkpointId]);
    } finally {
      await setReadOnly(false);
      await app.stop();
      await checkpointer.close();
    }
  });

  it("a turn on a server that stays read-only answers 503 UNAVAILABLE, not 500", async () => {
    const checkpointer = mysqlCheckpointer<AgentState>(`${appUrl}?table-prefix=ro3_`);
    // No retry window, so the answer is the store's error as it is.
    const app = await startTestApp({ checkpointer, checkpointerKind: "mysql", options: { retry: { attempts: 5, baseDelayMs: 25, unavailableMs: 0 } } });
    try {
      expect((await say(app.url, "stuck", "hello")).status).toBe(200);
      await setReadOnly(true);
      const res = await say(app.url, "stuck", "hello again");
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe("UNAVAILABLE");
    } finally {
      await setReadOnly(false);
      await app.stop();
      await checkpointer.close();
    }
  });
});
