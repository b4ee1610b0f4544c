// Access control: API keys with per-key threads, and the rate and body limits that are on by default.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MemoryCheckpointer } from "../../checkpointer/index.js";
import type { AgentState } from "../../app/agent/state.js";
import { createApp } from "../../app/create-app.js";
import { tenantOfKey } from "../../app/http/auth.js";
import { startServer, type RunningServer } from "../../app/lifecycle.js";
import { DemoModel } from "../../app/models/demo.js";
import { request, startTestApp, type TestApp } from "./support/in-process-app.js";

const KEY_A = "key-a-0123456789abcdef";
const KEY_B = "key-b-0123456789abcdef";
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const threadPath = (threadId: string, suffix = "") => `/threads/${encodeURIComponent(threadId)}${suffix}`;
const ids = (threads: { threadId: string }[]) => threads.map((t) => t.threadId).sort();

describe("API keys", () => {
  let app: TestApp;
  const api = (key: string, method: string, path: string, body?: unknown) => request(app.url, method, path, body, bearer(key));
  const say = (key: string, threadId: string, content: string) => api(key, "POST", threadPath(threadId, "/messages"), { content });

  beforeAll(async () => {
    app = await startTestApp({ options: { apiKeys: [KEY_A, KEY_B] } });
  });
  afterAll(() => app.stop());

  it.each([
    ["no key", {}],
    ["a wrong key", bearer("key-c-0123456789abcdef")],
    ["a wrong X-API-Key", { "x-api-key": "key-c-0123456789abcdef" }],
    ["a key with another scheme", { authorization: `Basic ${KEY_A}` }],
    ["a key one character short", bearer(KEY_A.slice(0, -1))],
    ["two different keys", { ...bearer(KEY_A), "x-api-key": KEY_B }],
  ])("401 with %s, on every API route (unknown ones too), and nothing is stored", async (_label, headers) => {
    const attempts = [
      ["GET", "/threads"],
      ["GET", "/threads/x"],
      ["POST", "/threads/x/messages"],
      ["POST", "/threads/x/fork"],
      ["DELETE", "/threads/x"],
      ["GET", "/no-such-route"],
    ];
    for (const [method, path] of attempts) {
      const res = await request(app.url, method!, path!, method === "POST" ? { content: "hi", to: "y" } : undefined, headers);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: { code: "UNAUTHORIZED", message: expect.stringContaining("API key") } });
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
    }
    expect(await app.checkpointer.listThreads()).toEqual([]);
  });

  it("/healthz and the chat page need no key", async () => {
    expect((await request(app.url, "GET", "/healthz")).status).toBe(200);
    expect((await fetch(`${app.url}/`)).status).toBe(200);
    expect((await fetch(`${app.url}/app.js`)).status).toBe(200);
  });

  it("takes the key as Authorization: Bearer or as X-API-Key, both meaning the same tenant", async () => {
    expect((await say(KEY_A, "either-header", "hello")).status).toBe(200);
    const viaHeader = await request(app.url, "GET", threadPath("either-header"), undefined, { "x-api-key": KEY_A });
    expect(viaHeader.status).toBe(200);
    expect(viaHeader.body.messages[0]).toEqual({ role: "user", content: "hello" });
    const both = await request(app.url, "GET", threadPath("either-header"), undefined, { ...bearer(KEY_A), "x-api-key": KEY_A });
    expect(both.status).toBe(200);
  });

  it("gives each key its own threads: the same id is two conversations", async () => {
    await say(KEY_A, "shared-name", "My name is Alex");
    await say(KEY_B, "shared-name", "My name is Sam");
    expect((await say(KEY_A, "shared-name", "Who am I?")).body.reply.content).toContain("Alex");
    expect((await say(KEY_B, "shared-name", "Who am I?")).body.reply.content).toContain("Sam");
  });

  it("one key can neither read (at any checkpoint), list, search, fork nor delete another's threads", async () => {
    const secret = await say(KEY_A, "a-secret", "my secret plan");
    expect(secret.status).toBe(200);
    for (const [method, path, body] of [
      ["GET", threadPath("a-secret")],
      ["GET", threadPath("a-secret", "/checkpoints")],
      ["POST", threadPath("a-secret", "/fork"), { to: "stolen" }],
      ["GET", `${threadPath("a-secret")}?checkpointId=${encodeURIComponent(secret.body.checkpointId)}`],
      ["POST", threadPath("a-secret", "/fork"), { to: "stolen", checkpointId: secret.body.checkpointId }],
      ["DELETE", threadPath("a-secret")],
    ] as const) {
      const res = await api(KEY_B, method, path, body);
      expect(res.status).toBe(404);
      expect(JSON.stringify(res.body)).not.toContain("secret plan");
    }
    expect(ids((await api(KEY_B, "GET", "/threads?limit=100")).body.threads)).not.toContain("a-secret");
    expect((await api(KEY_B, "GET", "/threads?prefix=a-")).body.threads).toEqual([]);
    expect((await api(KEY_B, "GET", "/search?q=secret")).body.hits).toEqual([]);
    expect(ids((await api(KEY_A, "GET", "/search?q=secret")).body.hits)).toEqual(["a-secret"]);
    // Its thread id is no cursor for another key.
    expect((await api(KEY_B, "GET", "/threads?cursor=a-secret")).status).toBe(400);

    // Forking onto the other key's thread id makes the caller's own thread of that name.
    await say(KEY_B, "b-own", "mine");
    expect((await api(KEY_B, "POST", threadPath("b-own", "/fork"), { to: "a-secret" })).status).toBe(201);
    expect((await api(KEY_B, "GET", threadPath("a-secret"))).body.messages[0].content).toBe("mine");
    const untouched = await api(KEY_A, "GET", threadPath("a-secret"));
    expect(untouched.body).toMatchObject({ checkpointId: secret.body.checkpointId, messages: [{ content: "my secret plan" }, expect.anything()] });
    expect(await app.checkpointer.exists("stolen")).toBe(false);
  });

  it("confines prefixes, wildcards and the other tenant's hash included, to the caller's threads", async () => {
    await say(KEY_A, "%_wild", "a");
    const own = ids((await api(KEY_B, "GET", "/threads?limit=100")).body.threads);
    expect(own.length).toBeGreaterThan(0);
    for (const prefix of ["%", "_", "!", "\\", `${tenantOfKey(KEY_A)}:`, tenantOfKey(KEY_A), ":"]) {
      const res = await api(KEY_B, "GET", `/threads?limit=100&prefix=${encodeURIComponent(prefix)}`);
      expect(res.status).toBe(200);
      expect(ids(res.body.threads)).toEqual(own.filter((id) => id.startsWith(prefix)));
    }
    expect(ids((await api(KEY_A, "GET", "/threads?prefix=%25")).body.threads)).toEqual(["%_wild"]);
  });

  it("stores ids under a hash of the key, never the key itself, and strips it from every answer", async () => {
    const stored = await app.checkpointer.listThreads({ limit: 1000 });
    expect(stored.length).toBeGreaterThan(0);
    for (const id of stored) {
      expect(id).toMatch(/^[0-9a-f]{16}:/);
      expect(id).not.toContain(KEY_A);
      expect(id).not.toContain(KEY_B);
    }
    const a = tenantOfKey(KEY_A);
    expect(stored).toContain(`${a}:a-secret`);
    const listed = await api(KEY_A, "GET", "/threads?limit=100");
    expect(JSON.stringify(listed.body)).not.toContain(a);
    // A conflict message names the thread as the client knows it.
    const conflict = await api(KEY_A, "POST", threadPath("shared-name", "/fork"), { to: "a-secret" });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.message).toContain('"a-secret"');
    expect(conflict.body.error.message).not.toContain(a);
  });

  it("accepts thread ids up to 238 characters, which fit the store's 255 with the tenant prefix", async () => {
    const longest = "🧵".repeat(238);
    expect((await say(KEY_A, longest, "hi")).status).toBe(200);
    expect((await api(KEY_A, "GET", threadPath(longest))).body.threadId).toBe(longest);
    const tooLong = await say(KEY_A, "x".repeat(239), "hi");
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.message).toContain("at most 238 characters");
  });
});

describe("rate limiting with API keys", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ options: { apiKeys: [KEY_A, KEY_B], rateLimitPerMinute: 3 } });
  });
  afterAll(() => app.stop());
  const statuses = async (headers: Record<string, string>, n: number) => {
    const seen = [];
    for (let i = 0; i < n; i++) seen.push((await request(app.url, "GET", "/threads", undefined, headers)).status);
    return seen;
  };

  it("gives each key its own budget, from the same address", async () => {
    expect(await statuses(bearer(KEY_A), 4)).toEqual([200, 200, 200, 429]);
    expect(await statuses(bearer(KEY_B), 1)).toEqual([200]);
  });

  it("counts requests without a valid key per address, so keys cannot be guessed quickly", async () => {
    expect(await statuses(bearer("guess-0123456789abcdef"), 3)).toEqual([401, 401, 401]);
    expect(await statuses(bearer("guess-fedcba9876543210"), 1)).toEqual([429]);
  });
});

describe("limits on by default (createApp without options)", () => {
  let server: RunningServer;
  beforeEach(async () => {
    const app = createApp({ checkpointer: new MemoryCheckpointer<AgentState>(), checkpointerKind: "memory", model: new DemoModel() });
    server = await startServer(app, 0, "127.0.0.1");
  });
  afterEach(() => server.stop());

  it("serves a 60 kB message and refuses a 70 kB one with 413 (BODY_LIMIT 64kb)", async () => {
    expect((await request(server.url, "POST", "/threads/big/messages", { content: "x".repeat(60_000) })).status).toBe(200);
    const tooBig = await request(server.url, "POST", "/threads/bigger/messages", { content: "x".repeat(70_000) });
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error.code).toBe("TOO_LARGE");
  });

  it("answers 429 after 120 API requests in a minute from one client (RATE_LIMIT_PER_MINUTE 120)", async () => {
    const seen: number[] = [];
    for (let i = 0; i < 121; i++) seen.push((await request(server.url, "GET", "/threads")).status);
    expect(seen.filter((s) => s === 200)).toHaveLength(120);
    expect(seen.at(-1)).toBe(429);
    expect((await request(server.url, "GET", "/threads")).headers.get("ratelimit-policy")).toContain("q=120");
  });
});
