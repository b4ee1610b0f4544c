// The app's retry of store calls that fail UNAVAILABLE (README, "Unknown commits"): a turn retries
// for up to 5 s with the same checkpoint id, then answers 503. The app runs in-process on the real
// MySQL, through a TCP proxy in the test (test/support/tcp-proxy.ts) that breaks its connections.
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mysqlCheckpointer, type Checkpointer } from "../../checkpointer/index.js";
import type { AgentState } from "../../app/agent/state.js";
import { freshDatabase } from "../support/databases.js";
import { startMysqlProxy, type MysqlProxy } from "../support/tcp-proxy.js";
import { say, startTestApp, type TestApp } from "./support/in-process-app.js";
import { HookedModel } from "./support/models.js";

const rootUrl = inject("mysqlUrl");
const RETRY_LOG = "the store is unavailable; trying again";

describe.skipIf(!rootUrl)("turns while MySQL connections fail (a TCP proxy between the app and MySQL)", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let proxy: MysqlProxy;
  let checkpointer: Checkpointer<AgentState>;
  let app: TestApp;
  const logs: { msg: string }[] = [];
  // Runs once as the model is called, i.e. between the turn's load and its save.
  let duringTurn: (() => void) | undefined;

  beforeAll(async () => {
    db = await freshDatabase(rootUrl!, "app_retry");
    proxy = await startMysqlProxy(db.url);
    checkpointer = mysqlCheckpointer<AgentState>(proxy.url(db.url));
    const model = new HookedModel(() => {
      const hook = duringTurn;
      duringTurn = undefined;
      hook?.();
    });
    const logger = pino({ level: "warn" }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    // The default retry policy (5 s for UNAVAILABLE), as the README states it.
    app = await startTestApp({ checkpointer, checkpointerKind: "mysql", model, logger });
  });
  afterAll(async () => {
    await app?.stop();
    await checkpointer?.close();
    await proxy?.close();
    await db?.drop();
  });

  const retries = () => logs.filter((l) => l.msg === RETRY_LOG).length;
  const contents = async (threadId: string) => (await checkpointer.load(threadId))?.messages.map((m) => m.content);
  // The store's own list (through the proxy, once it passes connections again), newest first.
  const checkpointIds = (threadId: string) => checkpointer.listCheckpoints(threadId);

  it("a save whose COMMIT ran but whose answer was lost is retried with the same id: acknowledged, stored once", async () => {
    const first = await say(app.url, "commit-lost", "My name is Alex");
    expect(first.status).toBe(200);
    const retriesBefore = retries();

    // The save's transaction ends with COMMIT: the server commits it, the app's connection dies
    // before the OK arrives, so the app cannot know whether its checkpoint is stored.
    proxy.cutAfterAnswerTo(/^COMMIT$/i);
    const second = await say(app.url, "commit-lost", "Who am I?");
    expect(proxy.counts.cutAfterAnswer).toBe(1);
    expect(second.status).toBe(200);
    expect(second.body.reply.content).toContain("Alex");
    expect(retries()).toBeGreaterThan(retriesBefore);

    // The retry found its own checkpoint (same id) and took it as done: no second copy of the turn,
    // no compare-and-set lost to itself (which would re-run the turn on top of it).
    expect(await checkpointIds("commit-lost")).toEqual([second.body.checkpointId, first.body.checkpointId]);
    expect(await contents("commit-lost")).toEqual(["My name is Alex", expect.any(String), "Who am I?", second.body.reply.content]);
  });

  it("an outage of a second in the middle of a turn (connections reset, new ones refused) is retried: acknowledged, stored once", async () => {
    const first = await say(app.url, "short-outage", "My name is Alex");
    expect(first.status).toBe(200);
    const [retriesBefore, refusedBefore] = [retries(), proxy.counts.refused];

    duringTurn = () => {
      proxy.refusing = true;
      proxy.cutAll();
      setTimeout(() => (proxy.refusing = false), 1_000);
    };
    const second = await say(app.url, "short-outage", "Who am I?");
    expect(second.status).toBe(200);
    expect(proxy.counts.refused).toBeGreaterThan(refusedBefore); // the save did meet the outage
    expect(retries()).toBeGreaterThan(retriesBefore);
    expect(await checkpointIds("short-outage")).toEqual([second.body.checkpointId, first.body.checkpointId]);
    expect(await contents("short-outage")).toEqual(["My name is Alex", expect.any(String), "Who am I?", second.body.reply.content]);
  });

  it("an outage longer than the retry window: 503 UNAVAILABLE after about 5 s, nothing stored; the next turn is served", async () => {
    const first = await say(app.url, "long-outage", "My name is Alex");
    expect(first.status).toBe(200);

    let outageStarted = 0;
    duringTurn = () => {
      outageStarted = performance.now();
      proxy.refusing = true;
      proxy.cutAll();
    };
    let second: Awaited<ReturnType<typeof say>>;
    try {
      second = await say(app.url, "long-outage", "Who am I?");
    } finally {
      proxy.refusing = false;
    }
    const retriedFor = performance.now() - outageStarted;
    expect(second.status).toBe(503);
    expect(second.body.error.code).toBe("UNAVAILABLE");
    // Up to 5 s of tries: the last pause (at most 1.5 s) is skipped when it would end past the
    // window, so the answer comes between 3.5 and 5 s after the outage began, plus the last try.
    expect(retriedFor).toBeGreaterThan(3_000);
    expect(retriedFor).toBeLessThan(7_000);

    expect(await checkpointIds("long-outage")).toEqual([first.body.checkpointId]);
    const third = await say(app.url, "long-outage", "Who am I?");
    expect(third.status).toBe(200);
    expect(await checkpointIds("long-outage")).toEqual([third.body.checkpointId, first.body.checkpointId]);
  });
});
