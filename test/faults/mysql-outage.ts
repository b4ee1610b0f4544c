// 1. MySQL SIGKILLed and restarted while the app serves concurrent turns on many threads. On a
// private server: the shared one must never be killed.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mysqlCheckpointer } from "../../checkpointer/index.js";
import type { AgentState } from "../../app/agent/state.js";
import { ciSetting, isCI } from "../support/ci.js";
import { privateMysqlUnavailable, startPrivateMysql, type PrivateMysql } from "../support/private-mysql.js";
import { appUserUrl, startApp, type FaultApp } from "./support/fault-app.js";
import { auditThreads } from "./support/history.js";
import { acknowledged, startLoad, until } from "./support/load.js";
import { countTurns, seconds, type ReliabilityReport } from "./support/report.js";

const THREADS = Array.from({ length: 24 }, (_, i) => `outage-${i}`);
/** "Fail fast": a generous bound that still proves no request waits for MySQL to come back. */
const FAST_MS = 10_000;

async function health(url: string): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(30_000) });
  await response.body?.cancel();
  return { status: response.status, ms: Date.now() - started };
}

export function mysqlOutage(report: ReliabilityReport): void {
  const unavailable = privateMysqlUnavailable();
  describe.skipIf(unavailable !== null && !isCI())("1. MySQL SIGKILLed and restarted under load", () => {
    let server: PrivateMysql;
    let app: FaultApp;
    // The app logs in with a password, so the outage's error paths are searched for it too.
    const password = `outage-${randomBytes(9).toString("hex")}`;

    beforeAll(async () => {
      if (unavailable) throw new Error(`${ciSetting()}, yet no private MySQL server can run: ${unavailable}`);
      server = await startPrivateMysql();
      app = await startApp({ MYSQL_URL: await appUserUrl(server.url, "outage", password, server.port) });
    }, 120_000);

    afterAll(async () => {
      await server?.destroy();
    });

    it("keeps every acknowledged turn; answers 503 fast while MySQL is down; recovers; never crashes", async () => {
      const load = startLoad({ url: app.url, threads: THREADS, concurrency: 8 });
      await until(() => acknowledged(load.turns).length >= 150, 60_000, "150 turns before the kill");

      await server.kill();
      const killedAt = Date.now();
      const healthDown = await health(app.url);
      await until(() => load.turns.filter((t) => t.startedAt > killedAt).length >= 30, 30_000, "30 turns during the outage");
      const restarting = Date.now();
      await server.start();
      const readyAt = Date.now();
      let healthUp = await health(app.url);
      while (healthUp.status !== 200 && Date.now() - readyAt < 30_000) healthUp = await health(app.url);
      const healthyAt = Date.now();
      await until(() => acknowledged(load.turns).filter((t) => t.startedAt > healthyAt).length >= 150, 60_000, "150 turns after recovery");
      load.stop();
      const turns = await load.done;

      // The process never went down, and no request hung or lost its connection.
      expect(app.alive()).toBe(true);
      expect(turns.filter((t) => t.status !== 200 && t.status !== 503)).toEqual([]);
      const slowest = Math.max(...turns.map((t) => t.endedAt - t.startedAt));
      expect(slowest).toBeLessThan(FAST_MS);

      // Requests while MySQL was dead failed fast, as 503 UNAVAILABLE. (Once it is restarting, it
      // may already answer before the script reports it ready.)
      const duringOutage = turns.filter((t) => t.startedAt > killedAt && t.endedAt < restarting);
      expect(duringOutage.length).toBeGreaterThanOrEqual(30);
      for (const t of duringOutage) {
        expect(t.status).toBe(503);
        expect(JSON.parse(t.body)).toMatchObject({ error: { code: "UNAVAILABLE" } });
      }
      expect(healthDown.status).toBe(503);
      expect(healthDown.ms).toBeLessThan(FAST_MS);

      // Back within seconds of MySQL accepting connections again.
      expect(healthUp.status).toBe(200);
      expect(healthyAt - readyAt).toBeLessThan(FAST_MS);
      const afterRecovery = turns.filter((t) => t.startedAt > healthyAt);
      expect(afterRecovery.filter((t) => t.status !== 200)).toEqual([]);

      // The outage's errors, logged and answered, never show the password.
      expect(app.output()).toMatch(/MySQL is unavailable: ECONNREFUSED/);
      for (const text of [app.output(), ...turns.map((t) => t.body)]) expect(text).not.toContain(password);

      // Every acknowledged turn is in its thread, in one unbroken chain.
      const store = mysqlCheckpointer<AgentState>(server.url);
      const audit = await auditThreads(store, THREADS, turns).finally(() => store.close());
      expect(audit.problems).toEqual([]);
      expect(audit.lost).toEqual([]);

      const counts = countTurns(turns, audit.lost.length);
      report.record(1, {
        title: "MySQL SIGKILLed and restarted under load",
        turns: counts,
        facts: [
          `The app (its own process) served ${THREADS.length} threads from 8 concurrent clients; a private mysqld was killed with SIGKILL ` +
            `after ${acknowledged(turns.filter((t) => t.endedAt < killedAt)).length} acknowledged turns, then started again on the same data.`,
          `MySQL was down for ${seconds(readyAt - killedAt)} (kill to ready, crash recovery included). The ${duringOutage.length} turns sent ` +
            `while it was down (before the restart began) all got 503 UNAVAILABLE; the slowest request of the whole run took ${slowest} ms ` +
            `(bound ${FAST_MS} ms).`,
          `/healthz answered 503 in ${healthDown.ms} ms during the outage and 200 again ${healthyAt - readyAt} ms after MySQL was ready; ` +
            `all ${afterRecovery.length} turns sent after that were acknowledged.`,
          `Afterwards all ${counts.acknowledged} acknowledged turns were in their threads: ${audit.checkpoints} checkpoints, each thread one unbroken ` +
            `chain of parents. The app process never exited.`,
          `Its MySQL password (in MYSQL_URL) was in none of its log lines (${app.output().split("\n").length}, the outage's errors included) ` +
            `nor any of the ${turns.length} responses.`,
        ],
      });
    }, 180_000);
  });
}
