// Search as tenants see it (issue 21): what one tenant finds, and how it is scored, depends on
// its own threads only; any query string is a 200 or a 400; one tenant's searches cannot take
// every connection. On every store.
import { afterEach, describe, expect, it } from "vitest";
import type { Checkpointer } from "../../checkpointer/index.js";
import type { AgentState } from "../../app/agent/state.js";
import { deferred } from "./support/models.js";
import { request, startTestApp, type TestApp } from "./support/in-process-app.js";
import { APP_STORES } from "./support/stores.js";

const KEY_A = "key-a-0123456789abcdef0123456789";
const KEY_B = "key-b-0123456789abcdef0123456789";
const as = (key: string) => ({ authorization: `Bearer ${key}` });

describe.each(APP_STORES)("search between tenants: $name", (store) => {
  const reason = store.skip();
  let app: TestApp | undefined;
  let cleanup = async () => {};
  afterEach(async () => {
    await app?.stop();
    await cleanup();
    app = undefined;
  });
  const start = async (options: Record<string, unknown> = {}, wrap?: (cp: Checkpointer<AgentState>) => Checkpointer<AgentState>) => {
    const opened = await store.open();
    cleanup = opened.cleanup;
    app = await startTestApp({ checkpointer: wrap ? wrap(opened.checkpointer) : opened.checkpointer, options: { apiKeys: [KEY_A, KEY_B], ...options } });
    return app;
  };
  const say = (key: string, thread: string, content: string) => request(app!.url, "POST", `/threads/${thread}/messages`, { content }, as(key));
  const search = (key: string, q: string) => request(app!.url, "GET", `/search?q=${encodeURIComponent(q)}`, undefined, as(key));

  it.skipIf(reason !== null)("a tenant's hits, order, scores and snippets are the same whatever other tenants store", async () => {
    await start();
    expect((await say(KEY_B, "plans", "okapiplan kestrelnote")).status).toBe(200);
    expect((await say(KEY_B, "notes", "kestrelnote kestrelnote and okapiplan once")).status).toBe(200);
    const before = (await search(KEY_B, "okapiplan kestrelnote")).body;
    expect(before.hits.map((h: { threadId: string }) => h.threadId).sort()).toEqual(["notes", "plans"]);
    // Tenant A uses one of B's words, many times, in many threads.
    for (let i = 0; i < 5; i++) expect((await say(KEY_A, `a${i}`, "okapiplan okapiplan okapiplan")).status).toBe(200);
    expect((await search(KEY_B, "okapiplan kestrelnote")).body).toEqual(before);
    expect((await search(KEY_B, "okapiplan")).body.hits.map((h: { threadId: string }) => h.threadId).sort()).toEqual(["notes", "plans"]);
    // A word only A used finds nothing for B, and B's threads never show up for A.
    expect((await search(KEY_A, "kestrelnote")).body.hits).toEqual([]);
    expect((await search(KEY_A, "okapiplan")).body.hits.map((h: { threadId: string }) => h.threadId).sort()).toEqual(["a0", "a1", "a2", "a3", "a4"]);
  });

  it.skipIf(reason !== null)("answers every query string with 200 or 400, never 500", async () => {
    await start();
    await say(KEY_A, "t", "walnut bread");
    const queries = ["*", "* *", " *", '*"', '"', "+-", "()", "a*", "@@", "'", "\\", "%", "_", "NEAR(a b)", "a OR b", "-walnut", "walnut*", "x".repeat(500), "😀", "é", "\u0000"];
    for (const q of queries) {
      const res = await search(KEY_A, q);
      expect([200, 400], `${JSON.stringify(q)}: ${JSON.stringify(res.body)}`).toContain(res.status);
    }
    expect((await search(KEY_A, "-walnut*")).body.hits.map((h: { threadId: string }) => h.threadId)).toEqual(["t"]);
  });

  it.skipIf(reason !== null)("caps each tenant's searches in flight (429), without holding back another tenant's", async () => {
    const held = deferred();
    const entered = deferred();
    // A store whose searches wait until released, so two are certainly in flight at once.
    const wrap = (cp: Checkpointer<AgentState>) =>
      new Proxy(cp, {
        get: (target, key) => {
          if (key === "search") {
            return async (...args: Parameters<Checkpointer<AgentState>["search"]>) => {
              entered.resolve();
              await held.promise;
              return target.search(...args);
            };
          }
          const value: unknown = Reflect.get(target, key, target);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    await start({ maxSearchesPerTenant: 1 }, wrap);
    const first = search(KEY_A, "anything");
    await entered.promise;
    const second = await search(KEY_A, "anything");
    expect(second.status).toBe(429);
    expect(second.body.error.code).toBe("TOO_MANY_SEARCHES");
    const other = search(KEY_B, "anything");
    held.resolve();
    expect((await first).status).toBe(200);
    expect((await other).status).toBe(200);
    // The slot is given back.
    expect((await search(KEY_A, "anything")).status).toBe(200);
  });
});

