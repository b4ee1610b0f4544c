// 2. The app SIGKILLed in the middle of a load, then started again on the same database.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mysqlCheckpointer, type MySQLCheckpointer } from "../../checkpointer/index.js";
import type { AgentState } from "../../app/agent/state.js";
import { freshDatabase } from "../support/databases.js";
import { startApp } from "./support/fault-app.js";
import { auditThreads } from "./support/history.js";
import { acknowledged, sendTurn, startLoad, until } from "./support/load.js";
import { countTurns, type ReliabilityReport } from "./support/report.js";

const THREADS = Array.from({ length: 32 }, (_, i) => `crash-${i}`);

export function appCrash(report: ReliabilityReport): void {
  const rootUrl = inject("mysqlUrl");
  describe.skipIf(!rootUrl)("2. the app SIGKILLed mid-load", () => {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    let store: MySQLCheckpointer<AgentState>;
    beforeAll(async () => {
      db = await freshDatabase(rootUrl!, "fault_crash");
      store = mysqlCheckpointer<AgentState>(db.url);
    });
    afterAll(async () => {
      await store?.close();
      await db?.drop();
    });

    it("after a restart every thread loads, holds every acknowledged turn and is one unbroken chain", async () => {
      const first = await startApp({ MYSQL_URL: db.url });
      const load = startLoad({ url: first.url, threads: THREADS, concurrency: 16 });
      await until(() => acknowledged(load.turns).length >= 300, 60_000, "300 turns before the kill");
      first.child.kill("SIGKILL");
      expect(await first.exited).toEqual({ code: null, signal: "SIGKILL" });
      load.stop();
      const turns = await load.done;
      // Killed mid-load: some requests were in flight and never got an answer.
      const unanswered = turns.filter((t) => t.status === 0);
      expect(unanswered.length).toBeGreaterThan(0);
      expect(turns.filter((t) => t.status !== 200 && t.status !== 0)).toEqual([]);

      const second = await startApp({ MYSQL_URL: db.url });
      for (const threadId of THREADS) {
        const res = await fetch(`${second.url}/threads/${threadId}`);
        expect(res.status).toBe(200);
      }
      const before = await auditThreads(store, THREADS, turns);
      expect(before.problems).toEqual([]);
      expect(before.lost).toEqual([]);
      // Turns in flight at the kill either committed whole or left nothing.
      const committedInFlight = unanswered.filter((t) => before.audits.some((a) => a.messages.includes(t.content)));

      // The restarted app carries every thread on from where the crash left it.
      const next = await Promise.all(THREADS.map((threadId) => sendTurn(second.url, threadId, `${threadId} after the restart`)));
      expect(next.map((t) => t.status)).toEqual(THREADS.map(() => 200));
      const after = await auditThreads(store, THREADS, [...turns, ...next]);
      expect(after.problems).toEqual([]);
      expect(after.lost).toEqual([]);
      expect(after.checkpoints).toBe(before.checkpoints + THREADS.length);

      const counts = countTurns([...turns, ...next], after.lost.length);
      report.record(2, {
        title: "App SIGKILLed mid-load, then restarted",
        turns: counts,
        facts: [
          `The app served ${THREADS.length} threads from 16 concurrent clients and was killed with SIGKILL after ` +
            `${acknowledged(turns).length} acknowledged turns; ${unanswered.length} requests were in flight or refused at the kill ` +
            `(${committedInFlight.length} of them had committed whole before it, the rest left nothing).`,
          `A new app process on the same database loaded all ${THREADS.length} threads (200); every history was one unbroken chain ` +
            `of parents (${before.checkpoints} checkpoints), each checkpoint its parent plus one turn, and held every acknowledged turn.`,
          `One more turn on every thread through the new process: all acknowledged, each chain continued from the pre-crash head.`,
        ],
      });
    }, 120_000);
  });
}
