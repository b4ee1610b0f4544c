// 3. Two app processes on one database, 50 concurrent turns on the same thread.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mysqlCheckpointer } from "../../checkpointer/index.js";
import type { AgentState } from "../../app/agent/state.js";
import { freshDatabase } from "../support/databases.js";
import { startApp } from "./support/fault-app.js";
import { auditThread } from "./support/history.js";
import { sendTurn } from "./support/load.js";
import { countTurns, type ReliabilityReport } from "./support/report.js";

const TURNS = 50;

export function twoWriters(report: ReliabilityReport): void {
  const rootUrl = inject("mysqlUrl");
  describe.skipIf(!rootUrl)("3. two app processes, 50 concurrent turns on one thread", () => {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    beforeAll(async () => {
      db = await freshDatabase(rootUrl!, "fault_writers");
    });
    afterAll(() => db?.drop());

    it("acknowledges all 50 turns, loses none, and stores one serial order", async () => {
      const apps = await Promise.all([startApp({ MYSQL_URL: db.url }), startApp({ MYSQL_URL: db.url })]);
      const contents = Array.from({ length: TURNS }, (_, i) => `contended turn ${i}`);
      const turns = await Promise.all(contents.map((content, i) => sendTurn(apps[i % 2]!.url, "contended", content)));

      // RELIABILITY.md: all 50 acknowledged. A turn that loses the race runs again on the newer
      // state, up to five times; a 409 (or anything else) here means that retry gave up or never ran.
      expect(turns.filter((t) => t.status !== 200).map((t) => `${t.content}: ${t.status} ${t.body}`)).toEqual([]);

      // One chain, each checkpoint its parent plus one turn answered on everything before it: a serial order.
      const store = mysqlCheckpointer<AgentState>(db.url);
      const audit = await auditThread(store, "contended", turns).finally(() => store.close());
      expect(audit.problems).toEqual([]);
      expect(audit.lost).toEqual([]);
      // Exactly the 50 turns, each once.
      expect([...audit.messages].sort()).toEqual([...contents].sort());
      expect(audit.chain).toHaveLength(TURNS);
      const lostRaces = apps.reduce((n, app) => n + app.output().split("running the turn again").length - 1, 0);
      expect(lostRaces).toBeGreaterThan(0); // the two processes really raced

      report.record(3, {
        title: "Two app processes, 50 concurrent turns on one thread",
        turns: countTurns(turns, audit.lost.length),
        facts: [
          `${TURNS} turns sent at once, alternating between two app processes on one database, all on one thread.`,
          `The processes lost the compare-and-set ${lostRaces} times and re-ran those turns on the newer state; ` +
            `all ${TURNS} turns were applied and acknowledged (asserted): every lost race was won on a retry, none ended in ` +
            `409 CONFLICT (test/app/replicas.test.ts forces the 409).`,
          `The thread holds exactly the ${TURNS} acknowledged messages, each once, as one chain of ` +
            `${audit.chain.length} checkpoints in which every reply counts all the messages before it: one serial order.`,
        ],
      });
    }, 120_000);
  });
}
