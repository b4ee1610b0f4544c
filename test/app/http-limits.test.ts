// The HTTP server's own limits (issue 21, item 7; docs/http-limits.md), each against real slow or
// idle clients over TCP. Small limits keep it fast; the bounds are ceilings against a hang, with
// margins for a loaded machine, and floors showing that it was the limit that cut.
import { afterEach, describe, expect, it } from "vitest";
import { DemoModel } from "../../app/models/demo.js";
import { parseEvents, sayStreaming } from "./support/event-stream.js";
import { startTestApp, type TestApp } from "./support/in-process-app.js";
import { HookedModel, deferred } from "./support/models.js";
import { getFresh, openConnection, parseAnswer, trickle, type RawConnection } from "./support/slow-clients.js";

/** Node checks the two request timeouts four times per headers timeout; a refused client then gets 1 s to read its 408. */
const CUT_SLACK_MS = 2_500;
const KEY_A = "tenant-a-key-0123456789";
const KEY_B = "tenant-b-key-0123456789";

const apps: TestApp[] = [];
const connections: RawConnection[] = [];
afterEach(async () => {
  for (const conn of connections.splice(0)) conn.socket.destroy();
  await Promise.all(apps.splice(0).map((app) => app.stop()));
});

async function start(...args: Parameters<typeof startTestApp>): Promise<TestApp> {
  const app = await startTestApp(...args);
  apps.push(app);
  return app;
}
async function open(url: string): Promise<RawConnection> {
  const conn = await openConnection(url);
  connections.push(conn);
  return conn;
}
const count = (app: TestApp) => new Promise<number>((resolve, reject) => app.server.getConnections((error, n) => (error ? reject(error) : resolve(n))));

describe("HTTP server limits", () => {
  it("cuts a client that trickles its headers once the headers timeout is up, with a JSON 408", async () => {
    const app = await start({ options: { headersTimeoutMs: 500, requestTimeoutMs: 5_000 } });
    const conn = await open(app.url);
    conn.socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    trickle(conn, "X-Pad: y\r\n");
    const answeredAt = await conn.answered;
    const closedAt = await conn.closed;
    expect(answeredAt).toBeGreaterThanOrEqual(450);
    expect(closedAt).toBeLessThan(500 + CUT_SLACK_MS);
    expect(parseAnswer(conn.received())).toEqual({ status: 408, body: { error: { code: "REQUEST_TIMEOUT", message: expect.any(String) } } });
  });

  it("closes a connection that never sends a byte within the headers timeout", async () => {
    const app = await start({ options: { headersTimeoutMs: 500, requestTimeoutMs: 5_000 } });
    const silent = await Promise.all(Array.from({ length: 20 }, () => open(app.url)));
    const endedAt = await Promise.all(silent.map((conn) => conn.ended));
    expect(Math.min(...endedAt)).toBeGreaterThanOrEqual(450);
    // Still sending after the server's close: cut all the same.
    for (const conn of silent) trickle(conn, "x");
    const closedAt = await Promise.all(silent.map((conn) => conn.closed));
    expect(Math.max(...closedAt)).toBeLessThan(500 + CUT_SLACK_MS);
    expect(await count(app)).toBe(0);
  });

  it("cuts a client that trickles its body once the request timeout is up, before the route sees it", async () => {
    const model = new HookedModel(() => {});
    const app = await start({ model, options: { headersTimeoutMs: 500, requestTimeoutMs: 1_500 } });
    const conn = await open(app.url);
    conn.socket.write("POST /threads/slow/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n");
    trickle(conn, " ");
    const answeredAt = await conn.answered;
    const closedAt = await conn.closed;
    // Past the headers timeout (the headers came at once): the request timeout cut it.
    expect(answeredAt).toBeGreaterThanOrEqual(1_450);
    expect(closedAt).toBeLessThan(1_500 + CUT_SLACK_MS);
    expect(parseAnswer(conn.received()).status).toBe(408);
    expect(model.calls).toBe(0);
  });

  it("does not apply the request timeout to the answer: a stream outlasting it completes", async () => {
    // The demo model quotes the message: 40 words or more at 80 ms, a reply of over 3 s against a request timeout of 1 s.
    const app = await start({ model: new DemoModel({ tokenDelayMs: 80 }), options: { headersTimeoutMs: 500, requestTimeoutMs: 1_000 } });
    const started = performance.now();
    const { status, events } = await sayStreaming(app.url, "long", "word ".repeat(40));
    expect(status).toBe(200);
    expect(performance.now() - started).toBeGreaterThan(3_000);
    expect(events.at(-1)?.event).toBe("done");
  });

  it("closes idle keep-alive connections after the keep-alive timeout (plus Node's 1 s grace)", async () => {
    const app = await start({ options: { headersTimeoutMs: 5_000, requestTimeoutMs: 5_000, keepAliveTimeoutMs: 300 } });
    const idle = await Promise.all(Array.from({ length: 20 }, () => open(app.url)));
    for (const conn of idle) conn.socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    await Promise.all(idle.map((conn) => conn.answered));
    for (const conn of idle) expect(conn.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*Connection: keep-alive/);
    const endedAt = await Promise.all(idle.map((conn) => conn.ended));
    // Well before the 5 s headers timeout that would close them otherwise.
    expect(Math.max(...endedAt)).toBeLessThan(300 + 1_000 + 2_000);
    expect(await count(app)).toBe(0);
  });

  it("closes connections beyond the cap at once; /healthz answers a new connection once they are gone", async () => {
    const app = await start({ options: { headersTimeoutMs: 10_000, requestTimeoutMs: 10_000, maxConnections: 5 } });
    const held = await Promise.all(Array.from({ length: 5 }, () => open(app.url)));
    await expect.poll(() => count(app)).toBe(5);
    const extra = await Promise.all(Array.from({ length: 3 }, () => open(app.url)));
    // Closed without an answer, far sooner than any timeout of this app.
    for (const conn of extra) {
      expect(await conn.ended).toBeLessThan(2_000);
      expect(conn.received()).toBe("");
    }
    await expect(getFresh(app.url, "/healthz", 2_000)).rejects.toThrow();
    for (const conn of held) conn.socket.destroy();
    await expect.poll(() => count(app)).toBe(0);
    expect((await getFresh(app.url, "/healthz")).status).toBe(200);
  });

  it("answers 429 to a tenant's stream beyond its cap, while another tenant's stream works and a finished one frees a slot", async () => {
    const hold = deferred();
    // Every streamed turn of tenant A waits until released; B's and the JSON turns go straight on.
    const model = new HookedModel((_call, request) => (request.messages.at(-1)?.content === "hold" ? hold.promise : undefined));
    const app = await start({ model, options: { apiKeys: [KEY_A, KEY_B], maxStreamsPerTenant: 2 } });
    const as = (key: string) => ({ authorization: `Bearer ${key}` });

    const held = [sayStreaming(app.url, "a-1", "hold", as(KEY_A)), sayStreaming(app.url, "a-2", "hold", as(KEY_A))];
    await expect.poll(() => model.calls).toBe(2);
    const refused = await sayStreaming(app.url, "a-3", "one more", as(KEY_A));
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.text)).toEqual({ error: { code: "TOO_MANY_STREAMS", message: expect.stringContaining("at most 2 event streams") } });

    const other = await sayStreaming(app.url, "b-1", "hello", as(KEY_B));
    expect(other.status).toBe(200);
    expect(other.events.at(-1)?.event).toBe("done");
    // The cap is on streams only: A's JSON turn still goes through.
    const json = await fetch(`${app.url}/threads/a-4/messages`, { method: "POST", headers: { "content-type": "application/json", ...as(KEY_A) }, body: '{"content":"hi"}' });
    expect(json.status).toBe(200);

    hold.resolve();
    for (const done of await Promise.all(held)) expect(parseEvents(done.text).at(-1)?.event).toBe("done");
    expect((await sayStreaming(app.url, "a-3", "now", as(KEY_A))).status).toBe(200);
  });

  it("answers 429 to a tenant's turn beyond MAX_TURNS_PER_TENANT, counting turns whose client hung up, while another tenant's turn works", async () => {
    const hold = deferred();
    const model = new HookedModel((_call, request) => (request.messages.at(-1)?.content === "hold" ? hold.promise : undefined));
    const app = await start({ model, options: { apiKeys: [KEY_A, KEY_B], maxTurnsPerTenant: 2 } });
    const as = (key: string) => ({ authorization: `Bearer ${key}` });
    const json = (thread: string, content: string, key: string) =>
      fetch(`${app.url}/threads/${thread}/messages`, { method: "POST", headers: { "content-type": "application/json", ...as(key) }, body: JSON.stringify({ content }) });

    // One JSON turn waiting on the model, and one streamed turn whose client hangs up: both go on.
    const waiting = json("a-1", "hold", KEY_A);
    const hungUp = new AbortController();
    await fetch(`${app.url}/threads/a-2/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", ...as(KEY_A) },
      body: '{"content":"hold"}',
      signal: hungUp.signal,
    });
    hungUp.abort();
    await expect.poll(() => model.calls).toBe(2);
    const refused = await json("a-3", "one more", KEY_A);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({ error: { code: "TOO_MANY_TURNS", message: expect.stringContaining("at most 2 turns") } });
    // Nothing of the refused turn was stored.
    expect((await fetch(`${app.url}/threads/a-3`, { headers: as(KEY_A) })).status).toBe(404);
    expect((await json("b-1", "hello", KEY_B)).status).toBe(200);

    hold.resolve();
    expect((await waiting).status).toBe(200);
    // The hung-up turn ends (and is saved) by itself, and frees its slot.
    await expect.poll(async () => (await fetch(`${app.url}/threads/a-2`, { headers: as(KEY_A) })).status).toBe(200);
    await expect.poll(async () => (await json("a-3", "now", KEY_A)).status).toBe(200);
  });
});
