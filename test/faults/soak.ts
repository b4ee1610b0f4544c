// 7. A soak: 2,000 turns at concurrency 16 over 100 threads, with the demo model.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mysqlCheckpointer } from "../../checkpointer/index.js";
import type { AgentState } from "../../app/agent/state.js";
import { freshDatabase } from "../support/databases.js";
import { startApp } from "./support/fault-app.js";
import { auditThreads } from "./support/history.js";
import { startLoad } from "./support/load.js";
import { countTurns, mb, seconds, type ReliabilityReport } from "./support/report.js";

const TURNS = 2_000;
const CONCURRENCY = 16;
const THREADS = Array.from({ length: 100 }, (_, i) => `soak-${i}`);
/** "Flat": what V8's heap growth and GC timing can add, far below what a leak per turn would. */
const RSS_GROWTH_LIMIT = 150 * 2 ** 20;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export function soak(report: ReliabilityReport): void {
  const rootUrl = inject("mysqlUrl");
  describe.skipIf(!rootUrl)("7. soak", () => {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    beforeAll(async () => {
      db = await freshDatabase(rootUrl!, "fault_soak");
    });
    afterAll(() => db?.drop());

    it(`${TURNS} turns at concurrency ${CONCURRENCY} over ${THREADS.length} threads: no errors, memory flat`, async () => {
      const app = await startApp({ MYSQL_URL: db.url });
      const rssStart = app.rss();
      const started = Date.now();
      const load = startLoad({ url: app.url, threads: THREADS, concurrency: CONCURRENCY, total: TURNS });
      // RSS by turns done, to tell warm-up (JIT, heap sizing) from growth that goes on.
      const samples: { turns: number; rss: number }[] = [];
      const sampler = setInterval(() => samples.push({ turns: load.turns.length, rss: app.rss() }), 200);
      const turns = await load.done;
      const elapsed = Date.now() - started;
      clearInterval(sampler);
      const rssEnd = app.rss();
      const rssAt = (fraction: number) => samples.find((s) => s.turns >= fraction * TURNS)?.rss ?? rssEnd;
      const rssPeak = Math.max(rssEnd, ...samples.map((s) => s.rss));

      expect(turns).toHaveLength(TURNS);
      expect(turns.filter((t) => t.status !== 200)).toEqual([]);
      const store = mysqlCheckpointer<AgentState>(db.url);
      const audit = await auditThreads(store, THREADS, turns).finally(() => store.close());
      expect(audit.problems).toEqual([]);
      expect(audit.lost).toEqual([]);
      expect(audit.checkpoints).toBe(TURNS);
      expect(app.alive()).toBe(true);
      expect(rssEnd).toBeLessThan(rssStart + RSS_GROWTH_LIMIT);

      const latencies = turns.map((t) => t.endedAt - t.startedAt).sort((a, b) => a - b);
      report.record(7, {
        title: `Soak: ${TURNS.toLocaleString("en")} turns, concurrency ${CONCURRENCY}, ${THREADS.length} threads`,
        turns: countTurns(turns, audit.lost.length),
        facts: [
          `${TURNS} turns with the demo model through one app process in ${seconds(elapsed)} (${Math.round(TURNS / (elapsed / 1000))} turns/s; ` +
            `latency p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms): zero errors; every thread one chain of ` +
            `${TURNS / THREADS.length} checkpoints holding all its acknowledged turns.`,
          `App RSS: ${mb(rssStart)} at start (after start-up, before the first turn), ${mb(rssAt(0.1))} after 10% of the turns, ` +
            `${mb(rssAt(0.5))} at half, ${mb(rssEnd)} at the end, peak ${mb(rssPeak)} (asserted: end below start + ${mb(RSS_GROWTH_LIMIT)}).`,
        ],
      });
    }, 180_000);
  });
}
