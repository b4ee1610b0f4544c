// 10. Search between tenants on MySQL (issue 21's probe): one tenant's data must not change what
// another tenant's search finds or scores, and one tenant's worst-case searches must not starve
// another tenant's reads.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freshDatabase } from "../support/databases.js";
import { startApp } from "./support/fault-app.js";
import type { ReliabilityReport } from "./support/report.js";

const KEY_A = "search-key-a-0123456789abcdef";
const KEY_B = "search-key-b-0123456789abcdef";
const as = (key: string) => ({ authorization: `Bearer ${key}` });
const READ_TARGET_MS = 250;
/** Tenant A's threads, each holding the word it searches for many times over. */
const HEAVY_THREADS = 150;
const HEAVY_MESSAGE = `${"okapiplan ".repeat(3_000)}end`;

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))]!;

export function searchTenants(report: ReliabilityReport): void {
  const rootUrl = inject("mysqlUrl");
  describe.skipIf(!rootUrl)("10. search between tenants (MySQL)", () => {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    beforeAll(async () => {
      db = await freshDatabase(rootUrl!, "fault_search");
    });
    afterAll(async () => db?.drop());

    it("keeps a tenant's hits and scores independent of other tenants, and its searches from starving another tenant's reads", async () => {
      const app = await startApp({ MYSQL_URL: db.url, API_KEYS: `${KEY_A},${KEY_B}` });
      const call = async (key: string, method: string, path: string, body?: unknown) => {
        const started = performance.now();
        const res = await fetch(app.url + path, {
          method,
          headers: { ...as(key), ...(body === undefined ? {} : { "content-type": "application/json" }) },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown>, ms: performance.now() - started };
      };
      const say = (key: string, thread: string, content: string) => call(key, "POST", `/threads/${thread}/messages`, { content });
      const search = (key: string, q: string) => call(key, "GET", `/search?q=${encodeURIComponent(q)}`);

      // Tenant B's own words, and its search of them before tenant A writes anything.
      expect((await say(KEY_B, "plans", "okapiplan kestrelnote")).status).toBe(200);
      expect((await say(KEY_B, "notes", "kestrelnote and kestrelnote")).status).toBe(200);
      const before = await search(KEY_B, "okapiplan kestrelnote");
      expect(before.status).toBe(200);

      // Tenant A fills the table with B's first word.
      for (let i = 0; i < HEAVY_THREADS; i++) expect((await say(KEY_A, `heavy-${i}`, HEAVY_MESSAGE)).status).toBe(200);
      const after = await search(KEY_B, "okapiplan kestrelnote");
      expect(after.body).toEqual(before.body);

      // B searches for a word only A used, 20 at once, again and again, while A reads its threads.
      const reads: number[] = [];
      const searches: { status: number; ms: number }[] = [];
      let searching = true;
      const searchers = Array.from({ length: 20 }, async () => {
        while (searching) {
          const res = await search(KEY_B, "okapiplan");
          searches.push({ status: res.status, ms: res.ms });
        }
      });
      for (let i = 0; i < 200; i++) {
        const res = await call(KEY_A, "GET", `/threads/heavy-${i % HEAVY_THREADS}`);
        expect(res.status).toBe(200);
        reads.push(res.ms);
      }
      searching = false;
      await Promise.all(searchers);
      const answered = searches.filter((s) => s.status === 200);
      const refused = searches.filter((s) => s.status === 429);
      expect(searches.length - answered.length - refused.length).toBe(0);
      const p99 = percentile(reads, 99);
      expect(p99).toBeLessThanOrEqual(READ_TARGET_MS);
      const found = await search(KEY_B, "okapiplan");
      expect((found.body.hits as { threadId: string }[]).map((h) => h.threadId)).toEqual(["plans"]);

      report.record(10, {
        title: "Search between tenants (MySQL)",
        facts: [
          `Tenant B searched "okapiplan kestrelnote" before and after tenant A stored "okapiplan" ${3_000 * HEAVY_THREADS} times in ${HEAVY_THREADS} threads: ` +
            `the same hits, order, scores and snippets (${JSON.stringify(before.body.hits)}).`,
          `While B ran 20 searches at once for a word only A used (${searches.length} in all: ${answered.length} answered, ` +
            `median ${Math.round(percentile(answered.map((s) => s.ms), 50))} ms; ${refused.length} refused with 429 by MAX_SEARCHES_PER_TENANT), ` +
            `A's ${reads.length} reads of its threads took p50 ${Math.round(percentile(reads, 50))} ms, p99 ${Math.round(p99)} ms (target ${READ_TARGET_MS} ms).`,
        ],
      });
    }, 300_000);
  });
}
