// GET /threads/:id/checkpoints pages back through a thread's whole history with nextCursor, on
// each store the app runs on, and docs/api.md's recipe finds the first checkpoint of a thread
// longer than a page.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO } from "./support/app-process.js";
import { request, say, startTestApp, type TestApp } from "./support/in-process-app.js";
import { APP_STORES } from "./support/stores.js";

const run = promisify(execFile);

const KEY = "paging-key-0123456789abcdef";
const auth = { authorization: `Bearer ${KEY}` };

interface Page {
  checkpoints: { checkpointId: string; metadata: { messages: number } }[];
  nextCursor: string | null;
}

describe.each(APP_STORES)("checkpoint paging on the $name store", (store) => {
  const skipReason = store.skip();
  let app: TestApp;
  let cleanup: () => Promise<void>;
  /** Checkpoint ids of the thread "long", oldest first, as its turns answered. */
  const turns: string[] = [];

  // Behind an API key: stored ids carry the tenant's prefix, cursors do not.
  const get = (path: string) => request<Page>(app.url, "GET", path, undefined, auth);
  const turn = async (threadId: string, content: string) => {
    const res = await request(app.url, "POST", `/threads/${threadId}/messages`, { content }, auth);
    expect(res.status).toBe(200);
    return res.body.checkpointId as string;
  };
  /** Every page from the first, following nextCursor. */
  async function allPages(threadId: string, limit: number): Promise<Page[]> {
    const pages: Page[] = [];
    for (let cursor: string | null | undefined; cursor !== null; ) {
      const res = await get(`/threads/${threadId}/checkpoints?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(res.status).toBe(200);
      pages.push(res.body);
      cursor = res.body.nextCursor;
      expect(pages.length).toBeLessThan(50);
    }
    return pages;
  }
  const ids = (pages: Page[]) => pages.map((p) => p.checkpoints.map((c) => c.checkpointId));

  beforeAll(async () => {
    if (skipReason) return;
    const opened = await store.open();
    cleanup = opened.cleanup;
    app = await startTestApp({ checkpointer: opened.checkpointer, options: { apiKeys: [KEY] } });
    for (let i = 1; i <= 7; i++) turns.push(await turn("long", `turn ${i}`));
  });
  afterAll(async () => {
    if (skipReason) return;
    await app.stop();
    await cleanup();
  });

  it.skipIf(skipReason)("pages newest first back to the first checkpoint, which ends the last page with a null cursor", async () => {
    const newestFirst = [...turns].reverse();
    expect(ids(await allPages("long", 3))).toEqual([newestFirst.slice(0, 3), newestFirst.slice(3, 6), newestFirst.slice(6)]);
    // A page that ends exactly at the first checkpoint says there is no more.
    expect(ids(await allPages("long", 7))).toEqual([newestFirst]);
    expect(ids(await allPages("long", 100))).toEqual([newestFirst]);
    const [, second] = await allPages("long", 6);
    expect(second).toEqual({ checkpoints: [expect.objectContaining({ checkpointId: turns[0], metadata: expect.objectContaining({ messages: 2 }) })], nextCursor: null });
  });

  it.skipIf(skipReason)("a cursor's page stays the same while the thread grows", async () => {
    const { nextCursor } = (await get("/threads/long/checkpoints?limit=2")).body;
    const before = (await get(`/threads/long/checkpoints?limit=2&cursor=${nextCursor}`)).body;
    await turn("grows", "other thread first");
    turns.push(await turn("long", "turn 8"));
    expect((await get(`/threads/long/checkpoints?limit=2&cursor=${nextCursor}`)).body).toEqual(before);
  });

  it.skipIf(skipReason)("a fork's history ends where it was forked", async () => {
    const fork = await request(app.url, "POST", "/threads/long/fork", { to: "long-branch", checkpointId: turns[2] }, auth);
    expect(fork.status).toBe(201);
    expect(ids(await allPages("long-branch", 2))).toEqual([[turns[2], turns[1]], [turns[0]]]);
  });

  it.skipIf(skipReason)("404 for a cursor the thread does not have, and for a thread that does not exist", async () => {
    const unknown = await get("/threads/long/checkpoints?cursor=no-such-checkpoint");
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: { code: "NOT_FOUND", message: 'thread "long" has no checkpoint "no-such-checkpoint"' } });
    const otherThreads = await get(`/threads/grows/checkpoints?cursor=${turns[0]}`);
    expect(otherThreads.status).toBe(404);
    const noThread = await request(app.url, "GET", `/threads/nobody/checkpoints?cursor=${turns[0]}`, undefined, auth);
    expect(noThread.body.error.message).toBe('thread "nobody" does not exist');
  });
});

describe("docs/api.md: the first checkpoint of a thread longer than a page", () => {
  const docs = readFileSync(join(REPO, "docs/api.md"), "utf8");
  const section = docs.slice(docs.indexOf("## Time travel"), docs.indexOf("## Streaming"));
  const recipe = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  let app: TestApp;
  const turns: string[] = [];
  beforeAll(async () => {
    app = await startTestApp();
    // 120 checkpoints: the recipe's pages hold 100.
    for (let i = 1; i <= 120; i++) turns.push((await say(app.url, "user-42", `turn ${i}`)).body.checkpointId);
  });
  afterAll(() => app.stop());

  it("runs as written (only the host changed): the conversation at the first checkpoint, and a branch from it", async () => {
    expect(recipe).toContain("nextCursor");
    const script = `set -eu\n${recipe.replaceAll("http://localhost:3000", app.url)}\nprintf '\\nFIRST=%s\\n' "$FIRST"`;
    const { stdout } = await run("bash", ["-c", script]);
    const [outputs, first] = stdout.trim().split("\n");
    expect(first).toBe(`FIRST=${turns[0]}`);
    // The two curls' answers, back to back (curl adds no newline).
    const [then, branch] = outputs!.split(/(?<=\})(?=\{)/).map((json) => JSON.parse(json));
    expect(then).toMatchObject({ threadId: "user-42", checkpointId: turns[0], messages: [{ role: "user", content: "turn 1" }, { role: "assistant" }] });
    expect(branch).toEqual({ threadId: "user-42-from-the-start", checkpointId: turns[0], forkedFrom: "user-42" });
  });
});
