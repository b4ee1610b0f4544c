// Streaming, time travel, search and paging over HTTP, on each store the app runs on.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hangUpAfterFirstToken, parseEvents, sayStreaming } from "./support/event-stream.js";
import { request, say, startTestApp, type JsonResponse, type TestApp } from "./support/in-process-app.js";
import { CancellableModel } from "./support/models.js";
import { APP_STORES } from "./support/stores.js";

const KEY = "stores-key-0123456789abcdef";
const OTHER_KEY = "other-key-0123456789abcdef";
const asKey = (key: string) => ({ authorization: `Bearer ${key}` });
const ids = (threads: { threadId: string }[]) => threads.map((t) => t.threadId);

describe.each(APP_STORES)("API features on the $name store", (store) => {
  const skipReason = store.skip();
  let app: TestApp;
  let keyed: TestApp; // the same store behind API keys: one tenant per key
  let model: CancellableModel;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    if (skipReason) return;
    const opened = await store.open();
    cleanup = opened.cleanup;
    model = new CancellableModel({ tokenDelayMs: 2 });
    app = await startTestApp({ checkpointer: opened.checkpointer, checkpointerKind: store.name, model });
    keyed = await startTestApp({ checkpointer: opened.checkpointer, checkpointerKind: store.name, options: { apiKeys: [KEY, OTHER_KEY] } });
  });
  afterAll(async () => {
    await app?.stop();
    await keyed?.stop();
    await cleanup?.();
  });

  describe.skipIf(skipReason)("streaming", () => {
    it("sends the turn's id, tokens as the model writes them, then done with the JSON reply, each event with an id; the turn is saved once", async () => {
      const res = await sayStreaming(app.url, "stream-1", "My name is Alex");
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
      const turnId = res.headers.get("x-turn-id");
      expect(res.events[0]).toEqual({ id: 1, event: "turn", data: { turnId } });
      expect(res.events.map((e) => e.id)).toEqual(res.events.map((_, i) => i + 1));
      const tokens = res.events.filter((e) => e.event === "token");
      expect(tokens.length).toBeGreaterThan(5);
      const done = res.events.at(-1)!;
      expect(done.event).toBe("done");
      expect(done.data).toEqual({ threadId: "stream-1", checkpointId: expect.any(String), turnId, reply: { role: "assistant", content: expect.stringContaining("Alex") } });
      expect(tokens.map((t) => t.data.text).join("")).toBe(done.data.reply.content);

      const thread = await request(app.url, "GET", "/threads/stream-1");
      expect(thread.body.checkpointId).toBe(done.data.checkpointId);
      expect(thread.body.messages).toEqual([
        { role: "user", content: "My name is Alex" },
        { role: "assistant", content: done.data.reply.content },
      ]);
      expect((await request(app.url, "GET", "/threads/stream-1/checkpoints")).body.checkpoints).toHaveLength(1);
    });

    it("sends a tool event for each tool step, before the reply's tokens", async () => {
      const res = await sayStreaming(app.url, "stream-tool", "Calculate (2+3)*4");
      expect(res.events.map((e) => e.event).filter((e, i, all) => e !== all[i - 1])).toEqual(["turn", "tool", "token", "done"]);
      expect(res.events[1]!.data).toEqual({ name: "calculator", arguments: '{"expression":"(2+3)*4"}', result: "(2+3)*4 = 20" });
      const done = res.events.at(-1)!.data;
      expect(res.events.filter((e) => e.event === "token").map((e) => e.data.text).join("")).toBe(done.reply.content);
      expect(done.reply.content).toContain("(2+3)*4 = 20");
    });

    it("a client that disconnects mid-stream does not cancel the turn: it runs to the end and is saved in full", async () => {
      await say(app.url, "stream-gone", "My name is Alex");
      const before = (await request(app.url, "GET", "/threads/stream-gone")).body.checkpointId;
      const cancelledBefore = model.cancelled;
      const hungUp = await hangUpAfterFirstToken(app.url, "stream-gone", "Who am I?");
      expect(hungUp.text).toContain("event: token");
      // The turn goes on without its client, and is saved whole.
      const reply = "You are Alex — you told me earlier in this conversation.";
      await expect
        .poll(async () => (await request(app.url, "GET", "/threads/stream-gone")).body.messages.at(-1), { timeout: 5000 })
        .toEqual({ role: "assistant", content: reply });
      expect(model.cancelled).toBe(cancelledBefore);
      // Its events were all recorded: a resume from the start replays the whole reply.
      const replay = parseEvents(await (await fetch(`${app.url}/threads/stream-gone/turns/${hungUp.turnId}/events`)).text());
      expect(replay.at(-1)).toMatchObject({ event: "done", data: { turnId: hungUp.turnId, reply: { content: reply } } });
      expect(replay.filter((e) => e.event === "token").map((e) => e.data.text).join("")).toBe(reply);
      const next = await say(app.url, "stream-gone", "Still there?");
      expect(next.status).toBe(200);
      const after = await request(app.url, "GET", "/threads/stream-gone");
      expect(after.body.messages.map((m: { content: string }) => m.content)).toEqual([
        "My name is Alex",
        expect.any(String),
        "Who am I?",
        reply,
        "Still there?",
        expect.any(String),
      ]);
      const checkpoints = (await request(app.url, "GET", "/threads/stream-gone/checkpoints")).body.checkpoints;
      expect(checkpoints.map((c: { checkpointId: string }) => c.checkpointId)).toEqual([next.body.checkpointId, replay.at(-1)!.data.checkpointId, before]);
    });

    it("answers JSON as before without the Accept header", async () => {
      const res = await say(app.url, "stream-json", "hello");
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.body.reply.content).toContain("hello");
    });
  });

  describe.skipIf(skipReason)("time travel", () => {
    let checkpoints: string[] = [];
    beforeAll(async () => {
      if (skipReason) return;
      checkpoints = [];
      for (const content of ["My name is Alex", "Call me Sam", "Who am I?"]) checkpoints.push((await say(app.url, "travel", content)).body.checkpointId);
    });

    it("GET /threads/:id?checkpointId= shows the conversation as it was then", async () => {
      const then = await request(app.url, "GET", `/threads/travel?checkpointId=${encodeURIComponent(checkpoints[0]!)}`);
      expect(then.status).toBe(200);
      expect(then.body.checkpointId).toBe(checkpoints[0]);
      expect(then.body.messages.map((m: { content: string }) => m.content)).toEqual(["My name is Alex", expect.stringContaining("Alex")]);
      expect((await request(app.url, "GET", "/threads/travel")).body.messages).toHaveLength(6);
    });

    it("404 for a checkpoint the thread does not have, or a thread that does not exist", async () => {
      const unknown = await request(app.url, "GET", "/threads/travel?checkpointId=no-such-checkpoint");
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.message).toBe('thread "travel" has no checkpoint "no-such-checkpoint"');
      const noThread = await request(app.url, "GET", `/threads/nobody?checkpointId=${checkpoints[0]}`);
      expect(noThread.body.error.message).toBe('thread "nobody" does not exist');
    });

    it("POST /threads/:id/fork with a checkpoint: the branch's latest is that state, its history ends there", async () => {
      const fork = await request(app.url, "POST", "/threads/travel/fork", { to: "travel-branch", checkpointId: checkpoints[1] });
      expect(fork.status).toBe(201);
      expect(fork.body).toEqual({ threadId: "travel-branch", checkpointId: checkpoints[1], forkedFrom: "travel" });
      const branch = await request(app.url, "GET", "/threads/travel-branch");
      expect(branch.body.checkpointId).toBe(checkpoints[1]);
      expect(branch.body.messages).toHaveLength(4);
      const history = await request(app.url, "GET", "/threads/travel-branch/checkpoints");
      expect(history.body.checkpoints.map((c: { checkpointId: string }) => c.checkpointId)).toEqual([checkpoints[1], checkpoints[0]]);
      // The listing shows the branch with the metadata of the checkpoint it starts from.
      const listed = (await request(app.url, "GET", "/threads?prefix=travel-branch")).body.threads[0];
      expect(listed.metadata).toMatchObject({ messages: 4 });

      // It goes its own way; the original is untouched.
      expect((await say(app.url, "travel-branch", "Who am I?")).body.reply.content).toContain("You are Sam");
      expect((await request(app.url, "GET", "/threads/travel")).body.checkpointId).toBe(checkpoints[2]);
    });

    it("edit and resend: a branch from before a user message, with that message replaced", async () => {
      await request(app.url, "POST", "/threads/travel/fork", { to: "travel-edit", checkpointId: checkpoints[0] });
      const resent = await say(app.url, "travel-edit", "Call me Kim");
      expect(resent.body.reply.content).toContain("Kim");
      const edited = await request(app.url, "GET", "/threads/travel-edit");
      expect(edited.body.messages.filter((m: { role: string }) => m.role === "user").map((m: { content: string }) => m.content)).toEqual([
        "My name is Alex",
        "Call me Kim",
      ]);
    });

    it("404 for forking from an unknown checkpoint, and nothing is created", async () => {
      const res = await request(app.url, "POST", "/threads/travel/fork", { to: "travel-nothing", checkpointId: "no-such-checkpoint" });
      expect(res.status).toBe(404);
      expect(res.body.error.message).toContain("no-such-checkpoint");
      expect((await request(app.url, "GET", "/threads/travel-nothing")).status).toBe(404);
    });
  });

  describe.skipIf(skipReason)("search", () => {
    it("finds the caller's conversations by their words, best first, with a snippet", async () => {
      await say(app.url, "search-fruit", "I would like a pineapple smoothie");
      await say(app.url, "search-other", "Tell me about volcanoes");
      const res = await request(app.url, "GET", "/search?q=pineapple");
      expect(res.status).toBe(200);
      expect(res.body.hits).toEqual([
        {
          threadId: "search-fruit",
          checkpointId: (await request(app.url, "GET", "/threads/search-fruit")).body.checkpointId,
          score: expect.any(Number),
          snippet: expect.stringContaining("pineapple"),
        },
      ]);
      expect((await request(app.url, "GET", "/search?q=zeppelin")).body.hits).toEqual([]);
    });

    it("sees only the caller's own threads (tenant-scoped)", async () => {
      await request(keyed.url, "POST", "/threads/mine/messages", { content: "my secret marmalade recipe" }, asKey(KEY));
      await request(keyed.url, "POST", "/threads/theirs/messages", { content: "their marmalade recipe" }, asKey(OTHER_KEY));
      const mine = await request(keyed.url, "GET", "/search?q=marmalade&limit=10", undefined, asKey(KEY));
      expect(ids(mine.body.hits)).toEqual(["mine"]);
      const theirs = await request(keyed.url, "GET", "/search?q=marmalade", undefined, asKey(OTHER_KEY));
      expect(ids(theirs.body.hits)).toEqual(["theirs"]);
    });
  });

  describe.skipIf(skipReason)("paging", () => {
    it("follows nextCursor through every thread exactly once, newest first; null on the last page", async () => {
      const made: string[] = [];
      for (let i = 0; i < 7; i++) {
        made.push(`page-${i}`);
        await say(app.url, `page-${i}`, `thread number ${i}`);
      }
      const seen: string[] = [];
      const cursors: (string | null)[] = [];
      let cursor: string | null = null;
      do {
        const query: string = `/threads?prefix=page-&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
        const res: JsonResponse = await request(app.url, "GET", query);
        expect(res.status).toBe(200);
        seen.push(...ids(res.body.threads));
        cursor = res.body.nextCursor;
        cursors.push(cursor);
      } while (cursor);
      expect(seen).toEqual([...made].reverse());
      expect(cursors).toEqual(["page-4", "page-1", null]);
    });

    it("the last full page has no next cursor", async () => {
      const res = await request(app.url, "GET", "/threads?prefix=page-&limit=7");
      expect(res.body.threads).toHaveLength(7);
      expect(res.body.nextCursor).toBeNull();
    });

    it("pages within the caller's tenant", async () => {
      for (const id of ["k-1", "k-2", "k-3"]) await request(keyed.url, "POST", `/threads/${id}/messages`, { content: "hi" }, asKey(KEY));
      await request(keyed.url, "POST", "/threads/k-other/messages", { content: "hi" }, asKey(OTHER_KEY));
      const first = await request(keyed.url, "GET", "/threads?prefix=k-&limit=2", undefined, asKey(KEY));
      expect(first.body).toMatchObject({ nextCursor: "k-2" });
      expect(ids(first.body.threads)).toEqual(["k-3", "k-2"]);
      const second = await request(keyed.url, "GET", "/threads?prefix=k-&limit=2&cursor=k-2", undefined, asKey(KEY));
      expect(second.body).toEqual({ threads: [expect.objectContaining({ threadId: "k-1", metadata: expect.objectContaining({ title: "hi" }) })], nextCursor: null });
      // Another tenant's thread id is no cursor of this tenant's.
      expect((await request(keyed.url, "GET", "/threads?cursor=k-other", undefined, asKey(KEY))).status).toBe(400);
    });

    it("400 for a cursor that names no thread", async () => {
      const res = await request(app.url, "GET", "/threads?cursor=no-such-thread");
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("INVALID_INPUT");
    });
  });

  describe.skipIf(skipReason)("idempotent turns", () => {
    it("a keyed turn that failed after saving part of itself (CHECKPOINT_EVERY_N_ITERATIONS=1) runs again from before the turn when retried: the message is stored once", async () => {
      // The turn's last save fails once, as if its replica had died there: its first part is stored.
      let failLastSave = true;
      const opened = await store.open();
      const failing = new Proxy(opened.checkpointer, {
        get(target, property) {
          const value = Reflect.get(target, property, target) as unknown;
          if (property === "save") {
            return (...args: Parameters<typeof target.save>) => {
              if (failLastSave && args[2]?.metadata?.step === "turn") {
                failLastSave = false;
                return Promise.reject(new Error("the replica died here"));
              }
              return target.save(...args);
            };
          }
          return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const parts = await startTestApp({ checkpointer: failing, checkpointerKind: store.name, options: { checkpointEveryNIterations: 1 } });
      try {
        const send = () => request(parts.url, "POST", "/threads/part/messages", { content: "Calculate 6*7" }, { "idempotency-key": "part-key" });
        expect((await send()).status).toBe(500);
        const [part] = (await request(parts.url, "GET", "/threads/part/checkpoints")).body.checkpoints;
        expect(part.metadata).toMatchObject({ step: "iteration", turnCheckpointId: expect.any(String) });

        const retry = await send();
        expect(retry.status).toBe(200);
        expect(retry.body).toMatchObject({ checkpointId: part.metadata.turnCheckpointId, reply: { content: "6*7 = 42 (worked out with the calculator tool)." } });
        const thread = (await request(parts.url, "GET", "/threads/part")).body;
        expect(thread.messages.filter((m: { role: string }) => m.role === "user")).toEqual([{ role: "user", content: "Calculate 6*7" }]);
        expect(thread.messages.at(-1)).toEqual(retry.body.reply);
        // After the saved part: the history is that part, the rerun's own part, then the turn.
        const history = (await request(parts.url, "GET", "/threads/part/checkpoints")).body.checkpoints;
        expect(history.map((c: { checkpointId: string; metadata: object }) => [c.checkpointId, c.metadata])).toEqual([
          [retry.body.checkpointId, expect.objectContaining({ step: "turn" })],
          [expect.any(String), expect.objectContaining({ step: "iteration", turnCheckpointId: retry.body.checkpointId })],
          [part.checkpointId, part.metadata],
        ]);
      } finally {
        await parts.stop();
        await opened.cleanup();
      }
    });
  });
});
