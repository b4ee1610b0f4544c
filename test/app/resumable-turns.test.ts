// Issue 20 with real processes: turns that outlive their connection and their replica, on the
// embedded store (two processes on one DATA_DIR) and on MySQL (two processes on one database).
// A dropped stream resumes on the other replica with nothing missed and nothing twice; a replica
// killed mid-turn leaves a turn that ends INTERRUPTED within lease + 2 s and that a retry with its
// Idempotency-Key completes once (and, killed after its save, answers the saved reply without running
// again: MySQL); repeats of a keyed POST replay or follow the first; a hang-up
// does not cancel; a cancel works from any replica; ended turns' events are deleted after the
// retention period.
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { APP_MAIN, cleanEnv, REPO, startAppProcess, type AppProcess } from "./support/app-process.js";
import { request } from "./support/in-process-app.js";
import { openEvents, type SseEvent, type SseStream } from "./support/sse-client.js";
import { freshDatabase } from "../support/databases.js";

const LEASE_MS = 2_000;
const RETENTION_MS = 1_000;
const TOKEN_DELAY_MS = 30;
const KEY_A = "tenant-a-key-0123456789abcdef";
const KEY_B = "tenant-b-key-0123456789abcdef";
const as = (key: string) => ({ authorization: `Bearer ${key}` });

/** A message of `n` words: the demo model streams it back word by word, one token each `TOKEN_DELAY_MS`. */
const words = (label: string, n = 40) => Array.from({ length: n }, (_, i) => `${label}${i}`).join(" ");
/** The demo model's reply to the thread's first message. */
const echo = (text: string) => `"${text}" (#1)`;
const newThread = (label: string) => `${label}-${randomUUID().slice(0, 8)}`;
const messagesPath = (thread: string) => `/threads/${encodeURIComponent(thread)}/messages`;
const turnPath = (thread: string, turnId: string, what: "events" | "cancel") => `/threads/${encodeURIComponent(thread)}/turns/${turnId}/${what}`;
const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
/** An event as the server sent it, without the time it arrived. */
const sent = ({ id, event, data }: SseEvent) => ({ id, event, data });
const tokensOf = (events: SseEvent[]) =>
  events
    .filter((e) => e.event === "token")
    .map((e) => e.data.text as string)
    .join("");

/** A streamed POST of `content` (with `idempotencyKey` when given), as tenant `key`. */
function streamTurn(base: string, thread: string, content: string, { key = KEY_A, idempotencyKey }: { key?: string; idempotencyKey?: string } = {}) {
  const headers: Record<string, string> = { ...as(key), ...(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}) };
  return openEvents(base + messagesPath(thread), { method: "POST", headers, body: { content } });
}

/** A JSON POST of `content`, as tenant `key`. */
function jsonTurn(base: string, thread: string, content: string, { key = KEY_A, idempotencyKey }: { key?: string; idempotencyKey?: string } = {}) {
  return request(base, "POST", messagesPath(thread), { content }, { ...as(key), ...(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}) });
}

/** `GET …/turns/:turnId/events`, from after `lastEventId` when given. */
function resume(base: string, thread: string, turnId: string, lastEventId?: number, key = KEY_A): Promise<SseStream> {
  const headers: Record<string, string> = { ...as(key), ...(lastEventId === undefined ? {} : { "last-event-id": String(lastEventId) }) };
  return openEvents(base + turnPath(thread, turnId, "events"), { headers });
}

/** The thread as stored (404 body when there is none). */
const storedThread = (base: string, thread: string, key = KEY_A) => request(base, "GET", `/threads/${encodeURIComponent(thread)}`, undefined, as(key));

/** The events' ids, to compare with `consecutive(…)`. */
const idsOf = (events: SseEvent[]) => events.map((e) => e.id);
/** The ids a run of `events` has when they are consecutive from `from`. */
const consecutive = (events: SseEvent[], from: number) => range(from, events.length);

/** The store under test: the environment its processes share and a direct look at the turn log's event rows. */
interface StoreSetup {
  env: Record<string, string>;
  eventRows: (turnId: string) => Promise<number>;
  cleanup: () => Promise<void>;
}

const mysqlUrl = inject("mysqlUrl");
const STORES: { name: string; skip: string | null; open: () => Promise<StoreSetup> }[] = [
  {
    name: "the embedded store (SQLite, one DATA_DIR)",
    skip: null,
    open: async () => {
      const dir = await mkdtemp(join(tmpdir(), "resumable-turns-"));
      return {
        env: { DATA_DIR: dir },
        eventRows: async (turnId) => {
          const db = new DatabaseSync(join(dir, "checkpoints.db"), { readOnly: true });
          try {
            return Number((db.prepare("SELECT COUNT(*) AS n FROM turn_events WHERE turn_id = ?").get(turnId) as { n: number }).n);
          } finally {
            db.close();
          }
        },
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: "MySQL (one database)",
    skip: mysqlUrl ? null : inject("mysqlSkipReason"),
    open: async () => {
      const db = await freshDatabase(mysqlUrl!, "turns");
      return {
        env: { MYSQL_URL: db.url },
        eventRows: async (turnId) => {
          const conn = await mysql.createConnection(db.url);
          try {
            const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT COUNT(*) AS n FROM cp_turn_events WHERE turn_id = ?", [turnId]);
            return Number(rows[0]!.n);
          } finally {
            await conn.end();
          }
        },
        cleanup: () => db.drop(),
      };
    },
  },
];

const running: AppProcess[] = [];
async function startReplica(env: Record<string, string>): Promise<AppProcess> {
  const started = await startAppProcess(...APP_MAIN, {
    cwd: REPO,
    env: cleanEnv({
      PORT: "0",
      RATE_LIMIT_PER_MINUTE: "0",
      API_KEYS: `${KEY_A},${KEY_B}`,
      DEMO_TOKEN_DELAY_MS: String(TOKEN_DELAY_MS),
      TURN_LEASE_MS: String(LEASE_MS),
      ...env,
    }),
  });
  running.push(started);
  return started;
}

/** `count` replicas on one store: the first opens it (creating its tables), then the others start together. */
async function startReplicas(env: Record<string, string>, count: number): Promise<AppProcess[]> {
  const first = await startReplica(env);
  expect((await request(first.url, "GET", "/threads", undefined, as(KEY_A))).status).toBe(200);
  return [first, ...(await Promise.all(range(1, count - 1).map(() => startReplica(env))))];
}

async function stopAll(): Promise<void> {
  await Promise.all(
    running.splice(0).map(async (replica) => {
      if (replica.child.exitCode === null && replica.child.signalCode === null) replica.child.kill("SIGTERM");
      await replica.exited;
    }),
  );
}

describe.each(STORES)("resumable, idempotent turns across two app processes on $name", ({ skip, open }) => {
  let main: StoreSetup | undefined;
  let retained: StoreSetup | undefined;
  // r1 and r2 share the main store; the victims too, until they are killed (one per scenario that
  // kills). s1 and s2 share a store of their own whose events are kept RETENTION_MS only (their
  // sweep would delete the other scenarios' events).
  let r1: AppProcess, r2: AppProcess, victim: AppProcess, victim2: AppProcess, s1: AppProcess, s2: AppProcess;

  beforeAll(async () => {
    if (skip) return;
    [main, retained] = await Promise.all([open(), open()]);
    const [onMain, onRetained] = await Promise.all([
      startReplicas(main.env, 4),
      startReplicas({ ...retained.env, TURN_EVENTS_RETENTION_MS: String(RETENTION_MS) }, 2),
    ]);
    [r1, r2, victim, victim2] = [onMain[0]!, onMain[1]!, onMain[2]!, onMain[3]!];
    [s1, s2] = [onRetained[0]!, onRetained[1]!];
  });
  afterAll(async () => {
    await stopAll();
    await Promise.all([main?.cleanup(), retained?.cleanup()]);
  });

  describe.skipIf(skip)("scenarios", { concurrent: true }, () => {
    it("a. a stream dropped mid-turn resumes on the other replica from Last-Event-ID: every token once, ids 1, 2, 3… across both", async ({ expect }) => {
      const thread = newThread("drop");
      const text = words("drop");
      const first = await streamTurn(r1.url, thread, text);
      expect(first.status).toBe(200);
      const turnId = first.headers.get("x-turn-id")!;
      expect(turnId).toMatch(/^[0-9a-f-]{36}$/);
      await first.waitForCount("token", 5);
      first.drop();
      expect(await first.closed).toBe("dropped");
      const before = [...first.events];
      expect(sent(before[0]!)).toEqual({ id: 1, event: "turn", data: { turnId } });
      const lastId = before.at(-1)!.id!;

      const resumed = await resume(r2.url, thread, turnId, lastId);
      expect(resumed.status).toBe(200);
      expect(resumed.headers.get("x-turn-id")).toBe(turnId);
      expect(await resumed.closed).toBe("ended");
      // Mid-turn: the resumed connection carried tokens the first one never had.
      expect(resumed.events.filter((e) => e.event === "token").length).toBeGreaterThan(0);
      const all = [...before, ...resumed.events];
      expect(idsOf(all)).toEqual(consecutive(all, 1));
      expect(all.filter((e) => e.event === "turn")).toHaveLength(1);
      const done = all.at(-1)!;
      expect(done.event).toBe("done");
      expect(done.data).toEqual({ threadId: thread, checkpointId: expect.any(String), turnId, reply: { role: "assistant", content: echo(text) } });
      expect(tokensOf(all)).toBe(done.data.reply.content);

      const saved = await storedThread(r2.url, thread);
      expect(saved.body.checkpointId).toBe(done.data.checkpointId);
      expect(saved.body.messages).toEqual([
        { role: "user", content: text },
        { role: "assistant", content: tokensOf(all) },
      ]);
    });

    it("b. SIGKILL of the producing replica: the resume ends INTERRUPTED within lease + 2 s, and a retry with the key completes the turn once", async ({ expect }) => {
      const thread = newThread("kill");
      const text = words("kill", 60);
      const idempotencyKey = randomUUID();
      const producing = await streamTurn(victim.url, thread, text, { idempotencyKey });
      const turnId = producing.headers.get("x-turn-id")!;
      await producing.waitForCount("token", 5);
      // A client follows the turn from the other replica (from the store) while it runs.
      const follower = await resume(r2.url, thread, turnId, 3);
      await follower.waitFor((e) => e.event === "token");

      const killedAt = performance.now();
      victim.child.kill("SIGKILL");
      expect((await victim.exited).signal).toBe("SIGKILL");
      expect(await producing.closed).not.toBe("ended");

      expect(await follower.closed).toBe("ended");
      const interrupted = follower.events.at(-1)!;
      expect(sent(interrupted)).toEqual({
        id: expect.any(Number),
        event: "error",
        data: { status: 503, error: { code: "INTERRUPTED", message: expect.stringContaining("Idempotency-Key") } },
      });
      const afterKillMs = interrupted.at - killedAt;
      console.log(`[resumable-turns] INTERRUPTED reached the follower ${Math.round(afterKillMs)} ms after the SIGKILL (lease ${LEASE_MS} ms)`);
      expect(afterKillMs).toBeLessThan(LEASE_MS + 2_000);
      // What was stored, in order from the resume point, then the error, whose id follows every id
      // the producer may have sent before storing (the turn's reservation).
      expect(idsOf(follower.events.slice(0, -1))).toEqual(consecutive(follower.events.slice(0, -1), 4));
      expect(interrupted.id).toBeGreaterThan(idsOf(producing.events).at(-1)!);
      expect(echo(text).startsWith(tokensOf(producing.events.slice(0, 3)) + tokensOf(follower.events))).toBe(true);
      expect(tokensOf(follower.events).length).toBeLessThan(echo(text).length);
      // The stored events are the ones the producer sent.
      const stored = follower.events.slice(0, -1);
      expect(stored.map(sent)).toEqual(producing.events.slice(3, 3 + stored.length).map(sent));

      // A retry with the same key on the surviving replica runs the turn again, and it is stored once.
      const retry = await jsonTurn(r2.url, thread, text, { idempotencyKey });
      expect(retry.status).toBe(200);
      expect(retry.headers.get("idempotent-replayed")).toBeNull();
      expect(retry.body).toEqual({ threadId: thread, checkpointId: expect.any(String), turnId: expect.any(String), reply: { role: "assistant", content: echo(text) } });
      expect(retry.body.turnId).not.toBe(turnId);
      const saved = await storedThread(r2.url, thread);
      expect(saved.body.messages).toEqual([
        { role: "user", content: text },
        { role: "assistant", content: echo(text) },
      ]);
      // Once more: now it is replayed, not run.
      const again = await jsonTurn(r2.url, thread, text, { idempotencyKey });
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect(again.body).toEqual(retry.body);
      expect((await storedThread(r2.url, thread)).body.messages).toHaveLength(2);
    });

    it("b'. the client of the killed replica resumes on the other with the last id it got: INTERRUPTED, with an id after that one", async ({ expect }) => {
      const thread = newThread("kill-client");
      const text = words("kill", 60);
      const producing = await streamTurn(victim2.url, thread, text, { idempotencyKey: randomUUID() });
      const turnId = producing.headers.get("x-turn-id")!;
      // Killed as a token arrives: as a crash does, at any moment, here between two writes of the turn's events.
      await producing.waitForCount("token", 5);
      const killedAt = performance.now();
      victim2.child.kill("SIGKILL");
      await victim2.exited;
      expect(await producing.closed).not.toBe("ended");
      const lastSeen = producing.events.at(-1)!.id!;

      const resumed = await resume(r2.url, thread, turnId, lastSeen);
      expect(resumed.status).toBe(200);
      expect(await resumed.closed).toBe("ended");
      const last = resumed.events.at(-1);
      if (last) console.log(`[resumable-turns] INTERRUPTED reached the dead replica's client ${Math.round(last.at - killedAt)} ms after the SIGKILL`);
      // What a failure should show: the ids the client had, and the turn as the store tells it.
      const told = await resume(r2.url, thread, turnId);
      await told.closed;
      const story = `the client had ids ${idsOf(producing.events).join(",")}; the store's story: ${JSON.stringify(told.events.map((e) => [e.id, e.event]))}`;
      // The stream tells how the turn ended, and every id in it follows the last the client had: an
      // id is never given to two events of a turn, so Last-Event-ID always names one event.
      expect(resumed.events.map(sent), story).toEqual([
        ...resumed.events.slice(0, -1).map((e) => ({ id: e.id, event: "token", data: e.data })),
        { id: expect.any(Number), event: "error", data: { status: 503, error: { code: "INTERRUPTED", message: expect.any(String) } } },
      ]);
      expect(resumed.events[0]!.id).toBeGreaterThan(lastSeen);
      // Increasing: the stored tokens after lastSeen one by one, then the error's id past them all.
      const ids = idsOf(resumed.events);
      expect(ids.slice(0, -1)).toEqual(consecutive(resumed.events.slice(0, -1), lastSeen + 1));
      expect(ids.at(-1)).toBeGreaterThan(Math.max(lastSeen, ...(ids.slice(0, -1) as number[])));
      expect(last!.at - killedAt).toBeLessThan(LEASE_MS + 2_000);
    });

    it("c(i). a repeat of a finished POST with its key answers the same checkpointId and reply (Idempotent-Replayed: true) on either replica; stored once", async ({ expect }) => {
      const thread = newThread("repeat-done");
      const text = words("done");
      const idempotencyKey = randomUUID();
      const first = await jsonTurn(r1.url, thread, text, { idempotencyKey });
      expect(first.status).toBe(200);
      expect(first.headers.get("idempotent-replayed")).toBeNull();
      expect(first.body).toEqual({ threadId: thread, checkpointId: expect.any(String), turnId: expect.any(String), reply: { role: "assistant", content: echo(text) } });
      for (const replica of [r1, r2]) {
        const repeat = await jsonTurn(replica.url, thread, text, { idempotencyKey });
        expect(repeat.status).toBe(200);
        expect(repeat.headers.get("idempotent-replayed")).toBe("true");
        expect(repeat.headers.get("x-turn-id")).toBe(first.body.turnId);
        expect(repeat.body).toEqual(first.body);
      }
      // Streamed, the repeat is the same turn's events from id 1: a JSON turn records only its end.
      const streamed = await streamTurn(r2.url, thread, text, { idempotencyKey });
      expect(await streamed.closed).toBe("ended");
      expect(streamed.headers.get("idempotent-replayed")).toBe("true");
      expect(streamed.events.map(sent)).toEqual([
        { id: 1, event: "turn", data: { turnId: first.body.turnId } },
        { id: 2, event: "done", data: first.body },
      ]);
      const saved = await storedThread(r1.url, thread);
      expect(saved.body.checkpointId).toBe(first.body.checkpointId);
      expect(saved.body.messages).toEqual([
        { role: "user", content: text },
        { role: "assistant", content: echo(text) },
      ]);
    });

    it("c(ii). repeats while the first runs: JSON waits and answers the same body, streamed gets the same turn's events from id 1; stored once", async ({ expect }) => {
      const thread = newThread("repeat-running");
      const text = words("running");
      const idempotencyKey = randomUUID();
      const first = await streamTurn(r1.url, thread, text, { idempotencyKey });
      const turnId = first.headers.get("x-turn-id")!;
      await first.waitForCount("token", 3);
      const json = jsonTurn(r2.url, thread, text, { idempotencyKey });
      const [streamedHere, streamedThere] = await Promise.all([
        streamTurn(r1.url, thread, text, { idempotencyKey }),
        streamTurn(r2.url, thread, text, { idempotencyKey }),
      ]);
      // The repeats came while the first was still producing.
      expect(first.events.some((e) => e.event === "done")).toBe(false);
      expect(await first.closed).toBe("ended");
      const done = first.events.at(-1)!;
      expect(done.event).toBe("done");
      expect(idsOf(first.events)).toEqual(consecutive(first.events, 1));

      const { status, headers, body } = await json;
      expect(status).toBe(200);
      expect(headers.get("idempotent-replayed")).toBe("true");
      expect(body).toEqual(done.data);
      for (const repeat of [streamedHere, streamedThere]) {
        expect(repeat.status).toBe(200);
        expect(repeat.headers.get("x-turn-id")).toBe(turnId);
        expect(repeat.headers.get("idempotent-replayed")).toBe("true");
        expect(await repeat.closed).toBe("ended");
        expect(repeat.events.map(sent)).toEqual(first.events.map(sent));
      }
      expect((await storedThread(r2.url, thread)).body.messages).toEqual([
        { role: "user", content: text },
        { role: "assistant", content: echo(text) },
      ]);
    });

    it("c(iii). the same key with another body or another thread is 422 IDEMPOTENCY_KEY_REUSED, while the first runs and after", async ({ expect }) => {
      const thread = newThread("reuse");
      const text = words("reuse");
      const idempotencyKey = randomUUID();
      const first = await streamTurn(r1.url, thread, text, { idempotencyKey });
      await first.waitForCount("token", 2);
      const reused = { error: { code: "IDEMPOTENCY_KEY_REUSED", message: expect.any(String) } };
      const whileRunning = await jsonTurn(r2.url, thread, `${text} and more`, { idempotencyKey });
      expect(first.events.some((e) => e.event === "done")).toBe(false);
      expect(whileRunning.status).toBe(422);
      expect(whileRunning.body).toEqual(reused);
      expect(await first.closed).toBe("ended");
      const otherBody = await jsonTurn(r1.url, thread, "something else", { idempotencyKey });
      expect([otherBody.status, otherBody.body]).toEqual([422, reused]);
      const otherThread = await streamTurn(r2.url, newThread("reuse-other"), text, { idempotencyKey });
      expect(otherThread.status).toBe(422);
      await otherThread.closed;
      expect(JSON.parse(otherThread.text)).toEqual(reused);
      expect((await storedThread(r1.url, thread)).body.messages).toEqual([
        { role: "user", content: text },
        { role: "assistant", content: echo(text) },
      ]);
    });

    it("c(iv). keys are per API key: tenant B with tenant A's key string runs its own turn, and can neither read nor cancel A's (404)", async ({ expect }) => {
      const thread = newThread("tenants");
      const text = words("tenants", 60);
      const idempotencyKey = randomUUID();
      const a = await streamTurn(r1.url, thread, text, { idempotencyKey });
      const turnId = a.headers.get("x-turn-id")!;
      await a.waitForCount("token", 3);
      // B on A's turn, on the producing replica (the turn in memory) and on the other (the store).
      for (const replica of [r1, r2]) {
        const events = await resume(replica.url, thread, turnId, undefined, KEY_B);
        expect(events.status).toBe(404);
        await events.closed;
        expect(JSON.parse(events.text).error.code).toBe("NOT_FOUND");
        const cancel = await request(replica.url, "POST", turnPath(thread, turnId, "cancel"), undefined, as(KEY_B));
        expect(cancel.status).toBe(404);
        expect(cancel.body.error.code).toBe("NOT_FOUND");
      }
      expect(a.events.some((e) => e.event === "done" || e.event === "error")).toBe(false);
      // The same key string and request from B: a turn of B's own, on B's own thread.
      const b = await jsonTurn(r2.url, thread, text, { key: KEY_B, idempotencyKey });
      expect(b.status).toBe(200);
      expect(b.headers.get("idempotent-replayed")).toBeNull();
      expect(b.body.turnId).not.toBe(turnId);
      expect(b.body.reply.content).toBe(echo(text));
      // A's turn was neither cancelled nor replayed to B; A cannot see B's turn either.
      expect(await a.closed).toBe("ended");
      expect(a.events.at(-1)!.event).toBe("done");
      expect(a.events.at(-1)!.data.checkpointId).not.toBe(b.body.checkpointId);
      const aOnB = await resume(r1.url, thread, b.body.turnId, undefined, KEY_A);
      expect(aOnB.status).toBe(404);
      await aOnB.closed;
      for (const key of [KEY_A, KEY_B]) {
        expect((await storedThread(r2.url, thread, key)).body.messages).toEqual([
          { role: "user", content: text },
          { role: "assistant", content: echo(text) },
        ]);
      }
    });

    it("d. a client that hangs up early does not cancel the turn: it is saved in full, and its events are all recorded", async ({ expect }) => {
      const thread = newThread("hangup");
      const text = words("hangup");
      const stream = await streamTurn(r1.url, thread, text);
      const turnId = stream.headers.get("x-turn-id")!;
      await stream.waitForCount("token", 1);
      stream.drop();
      expect(await stream.closed).toBe("dropped");
      await expect
        .poll(async () => (await storedThread(r2.url, thread)).body.messages, { timeout: 15_000, interval: 200 })
        .toEqual([
          { role: "user", content: text },
          { role: "assistant", content: echo(text) },
        ]);
      const replay = await resume(r2.url, thread, turnId);
      expect(await replay.closed).toBe("ended");
      expect(idsOf(replay.events)).toEqual(consecutive(replay.events, 1));
      expect(replay.events.at(-1)!.event).toBe("done");
      expect(tokensOf(replay.events)).toBe(echo(text));
    });

    it("e. a cancel on the other replica stops the turn: its stream ends with CANCELLED, nothing is saved, a second cancel is 409", async ({ expect }) => {
      const thread = newThread("cancel");
      const text = words("cancel", 80);
      const stream = await streamTurn(r1.url, thread, text);
      const turnId = stream.headers.get("x-turn-id")!;
      await stream.waitForCount("token", 3);
      const cancel = await request(r2.url, "POST", turnPath(thread, turnId, "cancel"), undefined, as(KEY_A));
      const cancelledAt = performance.now();
      expect(cancel.status).toBe(202);
      expect(cancel.body).toEqual({ turnId, status: "cancelling" });
      expect(await stream.closed).toBe("ended");
      const last = stream.events.at(-1)!;
      expect(last.event).toBe("error");
      expect(last.data.error.code).toBe("CANCELLED");
      console.log(`[resumable-turns] CANCELLED reached the stream ${Math.round(last.at - cancelledAt)} ms after the cancel on the other replica`);
      expect(idsOf(stream.events)).toEqual(consecutive(stream.events, 1));
      // Cut short: part of the reply only.
      expect(echo(text).startsWith(tokensOf(stream.events))).toBe(true);
      expect(tokensOf(stream.events).length).toBeLessThan(echo(text).length);

      expect((await storedThread(r2.url, thread)).status).toBe(404);
      for (const replica of [r2, r1]) {
        const again = await request(replica.url, "POST", turnPath(thread, turnId, "cancel"), undefined, as(KEY_A));
        expect(again.status).toBe(409);
        expect(again.body.error.code).toBe("CONFLICT");
      }
      // Any replica tells the same end.
      const replay = await resume(r2.url, thread, turnId, last.id! - 1);
      expect(await replay.closed).toBe("ended");
      expect(replay.events.map(sent)).toEqual([sent(last)]);
      expect((await storedThread(r1.url, thread)).status).toBe(404);
    });

    it("f. after the retention period an ended turn has no event rows, and a resume gets only its final event with its original id", async ({ expect }) => {
      const thread = newThread("retention");
      const text = words("retention");
      const stream = await streamTurn(s1.url, thread, text);
      const turnId = stream.headers.get("x-turn-id")!;
      await stream.waitForCount("token", 5);
      // While it runs, its events are in the store.
      await expect.poll(() => retained!.eventRows(turnId), { timeout: 5_000, interval: 50 }).toBeGreaterThan(0);
      expect(await stream.closed).toBe("ended");
      const done = stream.events.at(-1)!;
      expect(done.event).toBe("done");
      const endedAt = performance.now();
      await expect.poll(() => retained!.eventRows(turnId), { timeout: RETENTION_MS + 10_000, interval: 100 }).toBe(0);
      console.log(`[resumable-turns] event rows gone ${Math.round(performance.now() - endedAt)} ms after the turn ended (retention ${RETENTION_MS} ms)`);

      // On the replica that did not produce it (the producer still has the turn in memory).
      const resumed = await resume(s2.url, thread, turnId, 3);
      expect(await resumed.closed).toBe("ended");
      expect(resumed.events.map(sent)).toEqual([sent(done)]);
      const fromStart = await resume(s2.url, thread, turnId);
      expect(await fromStart.closed).toBe("ended");
      expect(fromStart.events.map(sent)).toEqual([{ id: 1, event: "turn", data: { turnId } }, sent(done)]);
      expect((await storedThread(s2.url, thread)).body.messages.at(-1)).toEqual({ role: "assistant", content: echo(text) });
    });
  });
});

// A replica killed at a chosen write, on MySQL: a trigger of the test's makes that write sleep
// inside its statement, and the test SIGKILLs the producer while it sleeps (the kill rolls the write
// back). (The embedded store has no triggers that could wait so.)
describe.skipIf(!mysqlUrl)("a replica killed after saving its turn or part of it, before the turn's end is stored (MySQL)", () => {
  const VICTIM_USER = `victim_${randomUUID().slice(0, 8)}`;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let conn: mysql.Connection;
  let survivor: AppProcess;
  let victimUrl: string;

  beforeAll(async () => {
    db = await freshDatabase(mysqlUrl!, "turnsaved");
    conn = await mysql.createConnection(db.url);
    // The victim connects as a user of its own, so its connections can be told from the survivor's.
    await conn.query("CREATE USER ?@'%' IDENTIFIED BY ''", [VICTIM_USER]);
    await conn.query(`GRANT ALL ON \`${db.name}\`.* TO ?@'%'`, [VICTIM_USER]);
    const url = new URL(db.url);
    [url.username, url.password] = [VICTIM_USER, ""];
    victimUrl = url.toString();
    survivor = (await startReplicas({ MYSQL_URL: db.url }, 1))[0]!;
  });
  afterAll(async () => {
    await stopAll();
    await conn?.query("DROP USER IF EXISTS ?@'%'", [VICTIM_USER]);
    await conn?.end();
    await db?.drop();
  });

  const rowsOf = async <T>(sql: string, params: unknown[]) => (await conn.query<mysql.RowDataPacket[]>(sql, params))[0] as T[];

  /**
   * Sends `text` with `idempotencyKey` as a JSON turn to a new replica (as the victim's user, with
   * `env`) and SIGKILLs it once its write `event` (a trigger's `BEFORE INSERT ON cp_checkpoints`…)
   * of a row matching `condition` sleeps. The trigger is the victim's, so its sleeping connection
   * shows as the victim's; its connections are then ended, as the server ends a dead host's (it
   * notices a statement's client gone only when the statement returns).
   */
  async function killDuring(event: string, condition: string, { thread, text, idempotencyKey, env = {} }: { thread: string; text: string; idempotencyKey: string; env?: Record<string, string> }): Promise<void> {
    await conn.query(
      `CREATE DEFINER = ${conn.escape(VICTIM_USER)}@'%' TRIGGER hold_write ${event} FOR EACH ROW
       BEGIN IF NEW.thread_id LIKE ${conn.escape(`%:${thread}`)} AND ${condition} THEN SET @held = SLEEP(60); END IF; END`,
    );
    const victim = await startReplica({ MYSQL_URL: victimUrl, ...env });
    try {
      const first = jsonTurn(victim.url, thread, text, { idempotencyKey }).catch((error: unknown) => error);
      await expect
        .poll(async () => (await rowsOf("SELECT id FROM information_schema.processlist WHERE user = ? AND state = 'User sleep'", [VICTIM_USER])).length, { timeout: 10_000, interval: 20 })
        .toBe(1);
      victim.child.kill("SIGKILL");
      expect(await first).toBeInstanceOf(Error);
    } finally {
      // Also when the wait failed: nothing of the victim may outlive the test (a sleeping statement would hold its shutdown).
      victim.child.kill("SIGKILL");
      await victim.exited;
      const victims = await rowsOf<{ id: number }>("SELECT id FROM information_schema.processlist WHERE user = ?", [VICTIM_USER]);
      for (const { id } of victims) await conn.query("KILL ?", [id]);
      await conn.query("DROP TRIGGER IF EXISTS hold_write");
    }
  }

  /** The dead replica's turn on `thread` ends INTERRUPTED, as any turn of a dead replica. */
  async function expectInterrupted(thread: string): Promise<void> {
    const [turn, ...others] = await rowsOf<{ turn_id: string }>("SELECT turn_id FROM cp_turns WHERE thread_id LIKE ?", [`%:${thread}`]);
    expect(others).toEqual([]);
    const resumed = await resume(survivor.url, thread, turn!.turn_id);
    expect(await resumed.closed).toBe("ended");
    expect(resumed.events.at(-1)!.data.error?.code).toBe("INTERRUPTED");
  }

  const checkpointsOf = (thread: string) =>
    rowsOf<{ checkpoint_id: string; parent_checkpoint_id: string | null; metadata: { step: string; turnCheckpointId?: string } }>(
      "SELECT checkpoint_id, parent_checkpoint_id, metadata FROM cp_checkpoints WHERE thread_id LIKE ? ORDER BY seq",
      [`%:${thread}`],
    );

  it("g. killed after saving its turn: a retry with the key answers the saved reply without running the turn again; one checkpoint, the message stored once", async () => {
    const thread = newThread("saved");
    const text = words("saved");
    const idempotencyKey = randomUUID();
    // The write of the turn's end: the one UPDATE of its row that ends it (renewals leave it running).
    await killDuring("BEFORE UPDATE ON cp_turns", "NEW.status <> 'running'", { thread, text, idempotencyKey });
    const [saved, ...others] = await checkpointsOf(thread);
    expect(others).toEqual([]);
    expect(saved!.metadata.step).toBe("turn");
    await expectInterrupted(thread);

    // The retry finds the saved checkpoint and answers its reply, whole, as one token: the model did
    // not run again (it would stream word by word).
    const retry = await streamTurn(survivor.url, thread, text, { idempotencyKey });
    expect(retry.status).toBe(200);
    expect(await retry.closed).toBe("ended");
    expect(retry.events.map((e) => e.event)).toEqual(["turn", "token", "done"]);
    expect(tokensOf(retry.events)).toBe(echo(text));
    expect(retry.events.at(-1)!.data).toMatchObject({ threadId: thread, checkpointId: saved!.checkpoint_id, reply: { role: "assistant", content: echo(text) } });
    expect(await checkpointsOf(thread)).toHaveLength(1);
    expect((await storedThread(survivor.url, thread)).body.messages).toEqual([
      { role: "user", content: text },
      { role: "assistant", content: echo(text) },
    ]);
  });

  it("h. saving inside the turn (CHECKPOINT_EVERY_N_ITERATIONS=1), killed after such a save: the retry starts again from before the turn, after the saved part; the message is stored once", async () => {
    const thread = newThread("part");
    const text = "Calculate 6*7";
    const idempotencyKey = randomUUID();
    // The turn's last save; its save after the first model call (and tool step) goes through.
    await killDuring("BEFORE INSERT ON cp_checkpoints", "JSON_UNQUOTE(JSON_EXTRACT(NEW.metadata, '$.step')) = 'turn'", {
      thread,
      text,
      idempotencyKey,
      env: { CHECKPOINT_EVERY_N_ITERATIONS: "1" },
    });
    // What the dead replica left: a mid-turn save, which names the checkpoint its turn is to be saved under.
    const [part, ...others] = await checkpointsOf(thread);
    expect(others).toEqual([]);
    expect(part!.metadata).toMatchObject({ step: "iteration", turnCheckpointId: expect.any(String) });
    await expectInterrupted(thread);

    const retry = await jsonTurn(survivor.url, thread, text, { idempotencyKey });
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ threadId: thread, checkpointId: part!.metadata.turnCheckpointId, reply: { role: "assistant", content: expect.stringContaining("42") } });
    // The turn as one run would have stored it, after the saved part (the chain goes on from it).
    const saved = await storedThread(survivor.url, thread);
    expect(saved.body.checkpointId).toBe(retry.body.checkpointId);
    expect(saved.body.messages.filter((m: { role: string }) => m.role === "user")).toEqual([{ role: "user", content: text }]);
    expect(saved.body.messages.at(-1)).toEqual(retry.body.reply);
    expect((await checkpointsOf(thread)).map(({ checkpoint_id, parent_checkpoint_id }) => [checkpoint_id, parent_checkpoint_id])).toEqual([
      [part!.checkpoint_id, null],
      [retry.body.checkpointId, part!.checkpoint_id],
    ]);
  });
});
