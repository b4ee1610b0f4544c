// The API's edges a new user meets first (issue 18 item 7, issue 21 item 6): empty bodies, bad or
// repeated limits, unknown query parameters, what a 413 says, messages without the store's own
// text, the demo model's replies in search, and paging a thread's history back to its first checkpoint.
import { connect } from "node:net";
import { pino } from "pino";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CheckpointerError, type CheckpointerErrorCode } from "../../checkpointer/index.js";
import { errorResponse } from "../../app/http/errors.js";
import { rawRequest } from "./support/event-stream.js";
import { request, say, startTestApp, type TestApp } from "./support/in-process-app.js";

/** A request written byte for byte: `fetch` and `http.request` add a Content-Length of their own. */
function exactRequest(baseUrl: string, head: string): Promise<{ status: number; body: { error: { code: string; message: string } } }> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(`${head}\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`));
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.on("error", reject);
    socket.on("end", () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
      resolve({ status, body: JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4)) });
    });
  });
}

describe("API edges (memory store, demo model)", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ options: { bodyLimit: "2kb" } });
    await say(app.url, "existing", "hello");
  });
  afterAll(() => app.stop());

  describe("a request with no body", () => {
    it.each([
      ["sent as application/json with no Content-Length (curl -X POST without -d)", "POST /threads/empty/messages HTTP/1.1\r\nContent-Type: application/json"],
      ["sent as application/json with Content-Length: 0", "POST /threads/empty/messages HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 0"],
      ["with no content type at all", "POST /threads/empty/messages HTTP/1.1"],
    ])("is a 400 naming the missing field when %s", async (_label, head) => {
      const res = await exactRequest(app.url, head);
      expect(res).toEqual({ status: 400, body: { error: { code: "INVALID_INPUT", message: "body.content: is required" } } });
      expect(await app.checkpointer.exists("empty")).toBe(false);
    });

    it("names the fork's missing field too", async () => {
      const res = await exactRequest(app.url, "POST /threads/existing/fork HTTP/1.1\r\nContent-Type: application/json");
      expect(res.body.error).toEqual({ code: "INVALID_INPUT", message: "body.to: is required" });
    });

    it("an empty JSON object names the missing field the same way", async () => {
      const res = await request(app.url, "POST", "/threads/empty/messages", {});
      expect(res.body.error).toEqual({ code: "INVALID_INPUT", message: "body.content: is required" });
    });

    it("a body of another type is still 415", async () => {
      const res = await rawRequest(app.url, "POST", "/threads/empty/messages", { "content-type": "text/plain" }, "hi");
      expect(res.status).toBe(415);
    });
  });

  describe("limit", () => {
    const paths = ["/threads", "/search?q=hello", "/threads/existing/checkpoints"];
    const join = (path: string, query: string) => `${path}${path.includes("?") ? "&" : "?"}${query}`;

    it.each(paths.flatMap((path) => ["abc", "0", "101", "2.5", "-1", "1e1", "", "%201"].map((value) => [path, value])))(
      "%s with limit=%j says what limit accepts",
      async (path, value) => {
        const res = await request(app.url, "GET", join(path, `limit=${value}`));
        expect(res.status).toBe(400);
        expect(res.body.error).toEqual({ code: "INVALID_INPUT", message: "query.limit: must be a whole number from 1 to 100" });
      },
    );

    it.each(paths)("%s with limit given twice says it must be given once", async (path) => {
      const res = await request(app.url, "GET", join(path, "limit=2&limit=3"));
      expect(res.body.error).toEqual({ code: "INVALID_INPUT", message: "query.limit: must be given once, as a whole number from 1 to 100" });
    });

    it.each(paths.flatMap((path) => ["1", "100", "007"].map((value) => [path, value])))("%s takes limit=%s", async (path, value) => {
      expect((await request(app.url, "GET", join(path, `limit=${value}`))).status).toBe(200);
    });
  });

  describe("query parameters", () => {
    it.each([
      ["GET", "/threads?limit=5&page=2", 'query: unknown parameter "page"; known: limit, prefix, cursor'],
      ["GET", "/search?q=hello&sort=new&x=1", 'query: unknown parameters "sort", "x"; known: q, limit'],
      ["GET", "/threads/existing?checkpoint=abc", 'query: unknown parameter "checkpoint"; known: checkpointId'],
      ["GET", "/threads/existing/checkpoints?order=oldest", 'query: unknown parameter "order"; known: limit, cursor'],
      ["POST", "/threads/existing/messages?stream=1", 'query: unknown parameter "stream"; this request takes no parameters'],
      ["POST", "/threads/existing/fork?force=1", 'query: unknown parameter "force"; this request takes no parameters'],
      ["DELETE", "/threads/existing?force=1", 'query: unknown parameter "force"; this request takes no parameters'],
    ])("%s %s is a 400 naming the unknown ones", async (method, path, message) => {
      const body = method === "POST" ? (path.includes("fork") ? { to: "never" } : { content: "hi" }) : undefined;
      const res = await request(app.url, method, path, body);
      expect(res.status).toBe(400);
      expect(res.body.error).toEqual({ code: "INVALID_INPUT", message });
      // Nothing happened.
      expect(await app.checkpointer.exists("existing")).toBe(true);
      expect(await app.checkpointer.exists("never")).toBe(false);
      expect(await app.checkpointer.listCheckpoints("existing")).toHaveLength(1);
    });

    it.each([
      ["/search?q=a&q=b", "query.q: must be a string (given once)"],
      ["/threads?prefix=a&prefix=b", "query.prefix: must be a string (given once)"],
      ["/threads/existing?checkpointId=a&checkpointId=b", "query.checkpointId: must be a string (given once)"],
      ["/search", "query.q: is required"],
    ])("%s: %s", async (path, message) => {
      const res = await request(app.url, "GET", path);
      expect(res.body.error).toEqual({ code: "INVALID_INPUT", message });
    });

    it("an unknown body field is named the same way", async () => {
      const res = await request(app.url, "POST", "/threads/existing/messages", { content: "hi", role: "system" });
      expect(res.body.error).toEqual({ code: "INVALID_INPUT", message: 'body: unknown field "role"; known: content' });
    });
  });

  it("413 names the body limit in bytes", async () => {
    const res = await say(app.url, "big", "x".repeat(4096));
    expect(res.status).toBe(413);
    expect(res.body.error).toEqual({ code: "TOO_LARGE", message: "the request body is larger than the limit of 2048 bytes" });
  });

  it("409 for a fork onto an existing thread names that thread", async () => {
    await say(app.url, "fork-target", "taken");
    const res = await request(app.url, "POST", "/threads/existing/fork", { to: "fork-target" });
    expect(res.status).toBe(409);
    expect(res.body.error).toEqual({ code: "CONFLICT", message: 'thread "fork-target" already exists; fork to a new thread id' });
  });
});

describe("what a client is told when the store refuses a request", () => {
  // The texts the MySQL store produces (checkpointer/mysql/errors.ts, backend.ts), driver text included.
  const refusals: [CheckpointerErrorCode, string, number][] = [
    ["TOO_LARGE", "checkpoint is larger than the MySQL server accepts (max_allowed_packet is 67108864 bytes): ER_NET_PACKET_TOO_LARGE: Got a packet bigger than 'max_allowed_packet' bytes", 413],
    ["TOO_LARGE", "checkpoint is 70000000 bytes (state and search text); MySQL's max_allowed_packet is 67108864 bytes", 413],
    ["CONFLICT", "already exists: ER_DUP_ENTRY: Duplicate entry 'a-1' for key 'cp_checkpoints.PRIMARY'", 409],
    ["CONFLICT", "gave up after repeated lock conflicts: ER_LOCK_DEADLOCK: Deadlock found when trying to get lock", 409],
    ["INVALID_INPUT", "metadata.title is not valid Unicode", 400],
  ];

  it.each(refusals)("%s is the app's own message, without the store's (%s)", (code, storeMessage, status) => {
    const lines: string[] = [];
    const logger = pino({ level: "warn" }, new Writable({ write: (chunk, _encoding, done) => void (lines.push(String(chunk)), done()) }));
    const { status: sent, body } = errorResponse(new CheckpointerError(code, storeMessage), { method: "POST", path: "/threads/t/messages" } as never, logger);
    expect(sent).toBe(status);
    expect(body.error.code).toBe(code);
    expect(body.error.message).not.toMatch(/ER_|max_allowed_packet|metadata|MySQL|checkpoint is|Duplicate/);
    // The operator still sees why.
    expect(lines.join("")).toContain(JSON.stringify(storeMessage).slice(1, -1));
  });
});

describe("the demo model in search", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.stop());

  it("puts no word of its own into every thread: each word of its replies finds only some threads", async () => {
    const firsts: Record<string, string> = {
      greeting: "hi",
      fruit: "I like apples",
      clock: "What time is it?",
      sums: "Calculate (2+3)*4",
      intro: "My name is Alex",
      asking: "help",
    };
    for (const [thread, content] of Object.entries(firsts)) {
      expect((await say(app.url, thread, content)).status).toBe(200);
      expect((await say(app.url, thread, "and again")).status).toBe(200);
    }
    const replies: string[] = [];
    const sent: string[] = [];
    for (const thread of Object.keys(firsts)) {
      const { body } = await request(app.url, "GET", `/threads/${thread}`);
      for (const m of body.messages as { role: string; content: string }[]) (m.role === "user" ? sent : replies).push(m.content);
    }
    // The model's own words: the user's are in their threads because the user wrote them.
    const theirs = new Set(sent.join(" ").toLowerCase().match(/\p{L}+/gu));
    const words = [...new Set(replies.join(" ").toLowerCase().match(/\p{L}{3,}/gu))].filter((w) => !theirs.has(w));
    expect(words.length).toBeGreaterThan(20);
    for (const word of words) {
      const { body } = await request(app.url, "GET", `/search?q=${encodeURIComponent(word)}&limit=100`);
      expect({ word, threads: body.hits.length }).toEqual({ word, threads: expect.toSatisfy((n: number) => n < Object.keys(firsts).length) });
    }
  });
});
