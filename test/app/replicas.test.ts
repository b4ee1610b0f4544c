// Compare-and-set between replicas: several app instances over one store, as `--scale app=3` runs
// them. Each replica has a checkpointer of its own (its own connection, cache and clock) on one
// SQLite file, as separate processes would; test/app/shared-store-processes.test.ts runs real ones.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { SQLiteCheckpointer, type Checkpointer } from "../../checkpointer/index.js";
import type { AgentState } from "../../app/agent/state.js";
import { request, say, startTestApp, type TestApp } from "./support/in-process-app.js";
import { deferred, HookedModel } from "./support/models.js";

const started: TestApp[] = [];
async function replica(...args: Parameters<typeof startTestApp>): Promise<TestApp> {
  const app = await startTestApp(...args);
  started.push(app);
  return app;
}
const opened: Checkpointer<AgentState>[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((app) => app.stop()));
  await Promise.all(opened.splice(0).map((cp) => cp.close()));
});
const root = mkdtempSync(join(tmpdir(), "replicas-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let stores = 0;

/** A new store shared by replicas: each call of the result opens one more checkpointer on it. */
function sharedStore(): () => Checkpointer<AgentState> {
  const path = join(root, `store-${++stores}.db`);
  return () => {
    const cp = new SQLiteCheckpointer<AgentState>({ path });
    opened.push(cp);
    return cp;
  };
}

const roles = (messages: { role: string }[]) => messages.map((m) => m.role);
const userContents = (messages: { role: string; content: string }[]) => messages.filter((m) => m.role === "user").map((m) => m.content);

describe("replicas sharing one store", () => {
  it("a turn that loses the race runs again on the winner's state", async () => {
    const openStore = sharedStore();
    const store = openStore();
    const loaded = deferred();
    const release = deferred();
    const slowModel = new HookedModel(async (call) => {
      if (call === 1) {
        loaded.resolve();
        await release.promise;
      }
    });
    const a = await replica({ checkpointer: openStore(), model: slowModel });
    const b = await replica({ checkpointer: openStore() });

    const slowTurn = say(a.url, "shared", "My name is Alex");
    await loaded.promise; // replica A has loaded the (empty) thread and is waiting for its model
    const fastTurn = await say(b.url, "shared", "hello");
    expect(fastTurn.status).toBe(200);
    release.resolve();
    const slow = await slowTurn;

    expect(slow.status).toBe(200);
    expect(slowModel.calls).toBe(2); // the first run's save conflicted; the second run succeeded
    const thread = await request(b.url, "GET", "/threads/shared");
    expect(userContents(thread.body.messages)).toEqual(["hello", "My name is Alex"]);
    expect(roles(thread.body.messages)).toEqual(["user", "assistant", "user", "assistant"]);
    const info = await store.getMetadata("shared", slow.body.checkpointId);
    expect(info?.parentCheckpointId).toBe(fastTurn.body.checkpointId);
  });

  it("concurrent turns spread over three replicas never drop a message", async () => {
    const openStore = sharedStore();
    const store = openStore();
    // A model that takes a moment, so replicas load the same state and race to save it.
    const thinking = () => new HookedModel(() => new Promise((resolve) => setTimeout(resolve, 5)));
    const options = { retry: { attempts: 30, baseDelayMs: 2 } };
    const models = [thinking(), thinking(), thinking()];
    const replicas = await Promise.all(models.map((model) => replica({ checkpointer: openStore(), model, options })));
    const contents = Array.from({ length: 15 }, (_, i) => `turn ${i}`);
    const results = await Promise.all(contents.map((c, i) => say(replicas[i % 3]!.url, "busy", c)));
    expect(results.map((r) => r.status)).toEqual(contents.map(() => 200));

    const thread = await request(replicas[0]!.url, "GET", "/threads/busy");
    expect(userContents(thread.body.messages).sort()).toEqual([...contents].sort());
    expect(roles(thread.body.messages)).toEqual(contents.flatMap(() => ["user", "assistant"]));
    expect(await store.listCheckpoints("busy", 100)).toHaveLength(contents.length);
    // The race really happened: some turns ran more than once.
    expect(models.reduce((sum, m) => sum + m.calls, 0)).toBeGreaterThan(contents.length);
  });

  it("answers 409 when every retry loses, and stores nothing of that turn", async () => {
    const openStore = sharedStore();
    const store = openStore();
    await store.save({ messages: [], iteration: 0, metadata: {} }, "contended");
    // Another writer saves the thread while each run of the turn is thinking.
    const model = new HookedModel(async (call) => {
      await store.save({ messages: [{ role: "user", content: `rival ${call}` }], iteration: 0, metadata: {} }, "contended");
    });
    const app = await replica({ checkpointer: openStore(), model, options: { retry: { attempts: 3, baseDelayMs: 1 } } });

    const res = await say(app.url, "contended", "mine");
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("CONFLICT");
    expect(model.calls).toBe(3);
    expect(await store.load("contended")).toEqual({ messages: [{ role: "user", content: "rival 3" }], iteration: 0, metadata: {} });
  });
});

describe("checkpoints inside a turn (CHECKPOINT_EVERY_N_ITERATIONS)", () => {
  it("saves after each N iterations, then at the end of the turn", async () => {
    const app = await replica({ options: { checkpointEveryNIterations: 1 } });
    const res = await say(app.url, "steps", "calculate 6*7");
    expect(res.body.reply.content).toContain("6*7 = 42");
    const { body } = await request(app.url, "GET", "/threads/steps/checkpoints");
    expect(body.checkpoints.map((c: { metadata: object }) => c.metadata)).toEqual([
      expect.objectContaining({ step: "turn", messages: 4, iteration: 2 }),
      expect.objectContaining({ step: "iteration", messages: 3, iteration: 1 }),
    ]);
    expect(body.checkpoints[0].checkpointId).toBe(res.body.checkpointId);
  });

  it("does not re-run a turn whose first part is already stored: 409, and the stored part stays", async () => {
    const openStore = sharedStore();
    const store = openStore();
    const model = new HookedModel(async (call) => {
      // After the mid-turn checkpoint (iteration 1), another writer gets in first.
      if (call === 2) await store.save({ messages: [], iteration: 0, metadata: {} }, "partial");
    });
    const app = await replica({ checkpointer: openStore(), model, options: { checkpointEveryNIterations: 1 } });

    const res = await say(app.url, "partial", "calculate 1+1");
    expect(res.status).toBe(409);
    expect(model.calls).toBe(2);
    const history = await store.listCheckpoints("partial", 10);
    const midTurn = await store.load("partial", history[1]);
    expect(midTurn?.messages.map((m) => m.role)).toEqual(["user", "assistant", "tool"]);
  });
});
