// The checkpointer contract (Locus's, as README.md's "The checkpointer module" states it), one
// suite run against every checkpointer: memory, SQLite in a file, and MySQL on a real server.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type {
  BackendCheckpointer,
  SQLiteBackend} from "../checkpointer/index.js";
import {
  CheckpointerError,
  defaultSearchText,
  MySQLBackend,
  MemoryCheckpointer,
  SQLiteCheckpointer,
  mysqlCheckpointer,
  type Checkpointer,
  type CheckpointerErrorCode,
} from "../checkpointer/index.js";
import { MAX_CHAIN_DELTAS } from "../checkpointer/delta.js";
import { sql, type Params } from "../checkpointer/statement.js";
import { freshDatabase } from "./support/databases.js";

interface State {
  messages: { role: string; content: string }[];
  step?: number;
}

interface Clock {
  now: () => number;
  /** Sets the time, backwards included (a clock stepped back, a replica's clock behind). */
  set(t: number): void;
  advanceDays(days: number): void;
  advanceSeconds(seconds: number): void;
}

interface Harness {
  name: string;
  /** Unavailable reason, or null when the harness can run. */
  skip: () => string | null;
  setup?: () => Promise<void>;
  make: (options: { clock: Clock; ttlSeconds?: number }) => Promise<Checkpointer<State>>;
  /**
   * A fresh store that several checkpointers (replicas, a restarted process) can open, each with a
   * clock of its own. The memory store has none: it lives in one checkpointer.
   */
  shared?: () => Promise<(now: () => number) => Checkpointer<State>>;
  teardown?: () => Promise<void>;
}

function newClock(): Clock {
  let t = Date.UTC(2026, 0, 1, 12, 0, 0);
  return {
    now: () => t,
    set: (to) => void (t = to),
    advanceDays: (days) => void (t += days * 86_400_000),
    advanceSeconds: (seconds) => void (t += seconds * 1000),
  };
}

let fileRoot = "";
let mysqlDb: Awaited<ReturnType<typeof freshDatabase>> | undefined;

const harnesses: Harness[] = [
  {
    name: "MemoryCheckpointer",
    skip: () => null,
    make: async ({ clock, ttlSeconds }) => new MemoryCheckpointer<State>({ now: clock.now, ttlSeconds }),
  },
  {
    name: "SQLiteCheckpointer",
    skip: () => null,
    setup: async () => void (fileRoot = await mkdtemp(join(tmpdir(), "cp-sqlite-"))),
    make: async ({ clock, ttlSeconds }) =>
      new SQLiteCheckpointer<State>({ path: join(await mkdtemp(join(fileRoot, "t-")), "checkpoints.db"), now: clock.now, ttlSeconds }),
    shared: async () => {
      const path = join(await mkdtemp(join(fileRoot, "s-")), "checkpoints.db");
      return (now) => new SQLiteCheckpointer<State>({ path, now });
    },
    teardown: () => rm(fileRoot, { recursive: true, force: true }),
  },
  {
    name: "MySQL",
    skip: () => (inject("mysqlUrl") ? null : inject("mysqlSkipReason")),
    setup: async () => void (mysqlDb = await freshDatabase(inject("mysqlUrl")!, "contract")),
    // A table prefix per checkpointer: isolated storage in one database, and every test also
    // exercises creating the schema on first use.
    make: async ({ clock, ttlSeconds }) =>
      mysqlCheckpointer<State>(
        { ...urlFields(mysqlDb!.url), tablePrefix: `c${randomBytes(4).toString("hex")}_`, ttlSeconds, connectionLimit: 20 },
        { now: clock.now },
      ),
    shared: async () => {
      const tablePrefix = `s${randomBytes(4).toString("hex")}_`;
      return (now) => mysqlCheckpointer<State>({ ...urlFields(mysqlDb!.url), tablePrefix, connectionLimit: 5 }, { now });
    },
    teardown: async () => mysqlDb?.drop(),
  },
];

/** A checkpointer's own database and checkpoint table, to read what it stored. */
function storeOf(cp: Checkpointer<State>) {
  const backend = (cp as BackendCheckpointer<State>).backend as SQLiteBackend | MySQLBackend;
  return { backend, table: backend instanceof MySQLBackend ? `\`${backend.tables.checkpoints}\`` : "checkpoints" };
}

/** A checkpoint's search text as the store holds it: the rows of its text run, joined. */
async function storedText(cp: Checkpointer<State>, threadId: string, checkpointId: string): Promise<string> {
  const { backend, table } = storeOf(cp);
  const rows = await backend.database.select(
    sql<{ threadId: string; checkpointId: string }, { search_text: string }>(`SELECT c.search_text FROM ${table} x
JOIN ${table} c ON c.thread_id = x.thread_id AND c.seq BETWEEN COALESCE(x.text_root_seq, x.seq) AND x.seq
WHERE x.thread_id = :threadId AND x.checkpoint_id = :checkpointId ORDER BY c.seq`),
    { threadId, checkpointId },
  );
  return rows.map((r) => r.search_text).filter((t) => t !== "").join("\n");
}

/** What a store holds, read through its own database: rows, deltas among them, and bytes of state. */
async function storedRows(cp: Checkpointer<State>): Promise<{ rows: number; deltas: number; stateBytes: number }> {
  const { backend, table } = storeOf(cp);
  const [row] = await backend.database.select(
    sql<Params, { n: number; deltas: number | string; bytes: number | string }>(
      `SELECT COUNT(*) AS n, SUM(CASE WHEN base_seq IS NULL THEN 0 ELSE 1 END) AS deltas, SUM(LENGTH(state)) AS bytes FROM ${table}`,
    ),
    {},
  );
  return { rows: Number(row!.n), deltas: Number(row!.deltas), stateBytes: Number(row!.bytes) };
}

function urlFields(url: string) {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: u.pathname.slice(1) };
}

const conversation = (...contents: string[]): State => ({
  messages: contents.map((content, i) => ({ role: i % 2 ? "assistant" : "user", content })),
});

/** A deterministic pseudo-random generator, so a failing run can be replayed. */
function seeded(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

async function expectCode(promise: Promise<unknown>, code: CheckpointerErrorCode): Promise<CheckpointerError> {
  const error = await promise.then(
    () => {
      throw new Error(`expected CheckpointerError ${code}, but the call succeeded`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CheckpointerError);
  expect((error as CheckpointerError).code).toBe(code);
  return error as CheckpointerError;
}

describe.each(harnesses)("checkpointer contract: $name", (harness) => {
  const reason = harness.skip();
  const open: Checkpointer<State>[] = [];
  let clock: Clock;

  async function make(options: { ttlSeconds?: number } = {}) {
    clock = newClock();
    const cp = await harness.make({ clock, ...options });
    open.push(cp);
    return cp;
  }

  beforeAll(async () => {
    if (!reason) await harness.setup?.();
  });
  afterAll(async () => {
    await Promise.all(open.map((cp) => cp.close()));
    if (!reason) await harness.teardown?.();
  });

  describe.skipIf(reason !== null)(`(${reason ?? "runs"})`, () => {
    it("reports honest capabilities: every one, and persistent ids on every store but memory", async () => {
      const cp = await make();
      expect(cp.capabilities).toEqual({
        search: true,
        metadataQuery: true,
        vacuum: true,
        branching: true,
        ttl: true,
        listThreads: true,
        listWithMetadata: true,
        persistentCheckpointIds: harness.name !== "MemoryCheckpointer",
      });
    });

    describe("save and load", () => {
      it("round-trips a state and returns a generated id", async () => {
        const cp = await make();
        const state = conversation("hello", "hi there");
        const id = await cp.save(state, "t1");
        expect(id).toMatch(/\S+/);
        expect(await cp.load("t1")).toEqual(state);
        expect(await cp.load("t1", id)).toEqual(state);
      });

      it("uses the given checkpoint id and generates distinct ones", async () => {
        const cp = await make();
        expect(await cp.save(conversation("a"), "t1", { checkpointId: "my-id" })).toBe("my-id");
        const a = await cp.save(conversation("b"), "t1");
        const b = await cp.save(conversation("c"), "t1");
        expect(new Set(["my-id", a, b]).size).toBe(3);
      });

      it("returns null for unknown threads and checkpoints", async () => {
        const cp = await make();
        expect(await cp.load("nope")).toBeNull();
        await cp.save(conversation("x"), "t1");
        expect(await cp.load("t1", "no-such-checkpoint")).toBeNull();
      });

      it("stores a copy: mutating the state after save changes nothing", async () => {
        const cp = await make();
        const state = conversation("original");
        await cp.save(state, "t1");
        state.messages[0]!.content = "mutated";
        expect((await cp.load("t1"))!.messages[0]!.content).toBe("original");
      });

      it("keeps every save as history, newest first, and loads any of them", async () => {
        const cp = await make();
        const ids: string[] = [];
        for (let i = 0; i < 12; i++) ids.push(await cp.save({ ...conversation(`m${i}`), step: i }, "t1"));
        expect(await cp.listCheckpoints("t1")).toEqual(ids.slice(-10).reverse());
        expect(await cp.listCheckpoints("t1", 3)).toEqual(ids.slice(-3).reverse());
        expect(await cp.listCheckpoints("t1", 100)).toEqual([...ids].reverse());
        expect((await cp.load("t1", ids[4]))!.step).toBe(4);
        expect((await cp.load("t1"))!.step).toBe(11);
        expect(await cp.listCheckpoints("other")).toEqual([]);
      });

      it("treats ids as exact strings: case, trailing spaces, : % _ ' and emoji", async () => {
        const cp = await make();
        const ids = ["Thread", "thread", "a", "a ", "a:b", "a:latest", "50%_off", "it's", "🧵🧵", "ü", "u\u0308"];
        for (const id of ids) await cp.save(conversation(`state of ${id}`), id);
        for (const id of ids) expect((await cp.load(id))!.messages[0]!.content).toBe(`state of ${id}`);
        expect((await cp.listThreads({ limit: 100 })).sort()).toEqual([...ids].sort());
      });

      it("accepts ids of 255 code points, emoji included, and rejects 256", async () => {
        const cp = await make();
        const longest = "🙂".repeat(255);
        await cp.save(conversation("x"), longest, { checkpointId: "c".repeat(255) });
        expect(await cp.exists(longest, "c".repeat(255))).toBe(true);
        await expectCode(cp.save(conversation("x"), "🙂".repeat(256)), "INVALID_INPUT");
        await expectCode(cp.save(conversation("x"), "t", { checkpointId: "c".repeat(256) }), "INVALID_INPUT");
      });
    });

    describe("invalid input is refused with a typed error and nothing written", () => {
      it("rejects bad thread and checkpoint ids", async () => {
        const cp = await make();
        for (const bad of ["", "\ud800", "a\udc00b", 42 as unknown as string, null as unknown as string]) {
          await expectCode(cp.save(conversation("x"), bad), "INVALID_INPUT");
          await expectCode(cp.load(bad), "INVALID_INPUT");
          await expectCode(cp.delete(bad), "INVALID_INPUT");
        }
        await expectCode(cp.load("t", ""), "INVALID_INPUT");
        expect(await cp.listThreads()).toEqual([]);
      });

      it("rejects states that cannot be serialised: BigInt, cycles, functions, NaN, Maps", async () => {
        const cp = await make();
        const cyclic: Record<string, unknown> = { messages: [] };
        cyclic.self = cyclic;
        const bad: unknown[] = [
          { messages: [], n: 10n },
          cyclic,
          { messages: [], f: () => 1 },
          { messages: [], x: Number.NaN },
          { messages: [], m: new Map([["a", 1]]) },
          undefined,
        ];
        for (const state of bad) await expectCode(cp.save(state as State, "t1"), "INVALID_INPUT");
        expect(await cp.exists("t1")).toBe(false);
      });

      it("rejects bad metadata, limits and options", async () => {
        const cp = await make();
        await expectCode(cp.save(conversation("x"), "t1", { metadata: [] as never }), "INVALID_INPUT");
        await expectCode(cp.save(conversation("x"), "t1", { metadata: { d: new Date() } as never }), "INVALID_INPUT");
        await expectCode(cp.save(conversation("x"), "t1", { metadata: { big: "x".repeat(70_000) } }), "INVALID_INPUT");
        expect(await cp.exists("t1")).toBe(false);
        await cp.save(conversation("x"), "t1");
        for (const limit of [0, -1, 1.5, 1e9, Number.NaN]) {
          await expectCode(cp.listCheckpoints("t1", limit), "INVALID_INPUT");
          await expectCode(cp.listThreads({ limit }), "INVALID_INPUT");
        }
        await expectCode(cp.vacuum({ olderThanDays: -1 }), "INVALID_INPUT");
        await expectCode(cp.vacuum({} as never), "INVALID_INPUT");
        await expectCode(cp.queryByMetadata("", 1), "INVALID_INPUT");
        await expectCode(cp.search("   "), "INVALID_INPUT");
        await expectCode(cp.copyThread("t1", "t1"), "INVALID_INPUT");
        for (const options of [null, "x", 1, []]) {
          await expectCode(cp.save(conversation("x"), "t1", options as never), "INVALID_INPUT");
          await expectCode(cp.listThreads(options as never), "INVALID_INPUT");
          await expectCode(cp.listWithMetadata(options as never), "INVALID_INPUT");
          await expectCode(cp.vacuum(options as never), "INVALID_INPUT");
        }
        expect(await cp.listCheckpoints("t1")).toHaveLength(1);
      });
    });

    describe("compare-and-set and conflicts", () => {
      it("saves when the parent is the latest, and refuses otherwise without writing", async () => {
        const cp = await make();
        const first = await cp.save(conversation("1"), "t1", { parentCheckpointId: null });
        const second = await cp.save(conversation("1", "2"), "t1", { parentCheckpointId: first });
        await expectCode(cp.save(conversation("stale"), "t1", { parentCheckpointId: first }), "CONFLICT");
        await expectCode(cp.save(conversation("stale"), "t1", { parentCheckpointId: null }), "CONFLICT");
        await expectCode(cp.save(conversation("stale"), "new-thread", { parentCheckpointId: first }), "CONFLICT");
        expect(await cp.listCheckpoints("t1")).toEqual([second, first]);
        expect(await cp.load("t1")).toEqual(conversation("1", "2"));
        expect(await cp.exists("new-thread")).toBe(false);
      });

      it("refuses a checkpoint id that already exists in the thread", async () => {
        const cp = await make();
        await cp.save(conversation("1"), "t1", { checkpointId: "dup" });
        await cp.save(conversation("2"), "t1");
        await expectCode(cp.save(conversation("3"), "t1", { checkpointId: "dup" }), "CONFLICT");
        expect(await cp.listCheckpoints("t1")).toHaveLength(2);
        expect(await cp.load("t1")).toEqual(conversation("2"));
        // The same id in another thread is fine.
        await cp.save(conversation("4"), "t2", { checkpointId: "dup" });
      });

      it("takes a save retried with the same id and content as done, once; other content is CONFLICT", async () => {
        const cp = await make();
        const base = await cp.save(conversation("1"), "t1");
        const options = { checkpointId: "retry", parentCheckpointId: base, metadata: { step: 1, title: "a" } };
        await cp.save(conversation("2"), "t1", options);
        // Again, as after a COMMIT whose outcome was unknown: its parent is no longer the latest.
        expect(await cp.save(conversation("2"), "t1", { ...options, metadata: { title: "a", step: 1 } })).toBe("retry");
        expect(await cp.listCheckpoints("t1")).toEqual(["retry", base]);
        await expectCode(cp.save(conversation("other"), "t1", options), "CONFLICT");
        await expectCode(cp.save(conversation("2"), "t1", { ...options, metadata: { step: 2, title: "a" } }), "CONFLICT");
        await expectCode(cp.save(conversation("2"), "t1", { ...options, parentCheckpointId: null }), "CONFLICT");
        // Still done, not applied again, once another checkpoint follows it; without a parent too.
        await cp.save(conversation("3"), "t1");
        expect(await cp.save(conversation("2"), "t1", { checkpointId: "retry", metadata: options.metadata })).toBe("retry");
        expect(await cp.listCheckpoints("t1")).toHaveLength(3);
        expect(await cp.load("t1")).toEqual(conversation("3"));
      });

      it("lets exactly one of many concurrent compare-and-set saves win", async () => {
        const cp = await make();
        const base = await cp.save(conversation("base"), "t1");
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) => cp.save(conversation("base", `r${i}`), "t1", { parentCheckpointId: base })),
        );
        const won = results.filter((r) => r.status === "fulfilled");
        expect(won).toHaveLength(1);
        for (const r of results) if (r.status === "rejected") expect((r.reason as CheckpointerError).code).toBe("CONFLICT");
        expect(await cp.listCheckpoints("t1")).toEqual([(won[0] as PromiseFulfilledResult<string>).value, base]);
      });

      it("loses nothing under concurrent saves to one thread, and keeps one chain of parents", async () => {
        const cp = await make();
        const ids = await Promise.all(Array.from({ length: 25 }, (_, i) => cp.save({ ...conversation(`c${i}`), step: i }, "t1")));
        const history = await cp.listCheckpoints("t1", 100);
        expect([...history].sort()).toEqual([...ids].sort());
        // Walk parents from the latest: every checkpoint is visited once, in history order.
        const chain: string[] = [];
        for (let at: string | null = history[0]!; at !== null; ) {
          chain.push(at);
          at = (await cp.getMetadata("t1", at))!.parentCheckpointId;
        }
        expect(chain).toEqual(history);
      });
    });

    describe("delete and exists", () => {
      it("deletes one checkpoint; after deleting the latest, load returns the one before", async () => {
        const cp = await make();
        const a = await cp.save(conversation("a"), "t1", { metadata: { v: "a" } });
        const b = await cp.save(conversation("b"), "t1", { metadata: { v: "b" } });
        expect(await cp.delete("t1", b)).toBe(true);
        expect(await cp.load("t1")).toEqual(conversation("a"));
        expect(await cp.load("t1", b)).toBeNull();
        expect(await cp.exists("t1", b)).toBe(false);
        expect((await cp.getMetadata("t1"))!.checkpointId).toBe(a);
        expect((await cp.getMetadata("t1"))!.metadata).toEqual({ v: "a" });
        expect(await cp.queryByMetadata("v", "a")).toHaveLength(1);
        expect(await cp.queryByMetadata("v", "b")).toHaveLength(0);
        expect(await cp.delete("t1", b)).toBe(false);
        // The next save continues from the new latest.
        const c = await cp.save(conversation("c"), "t1");
        expect((await cp.getMetadata("t1", c))!.parentCheckpointId).toBe(a);
      });

      it("deletes a middle checkpoint without touching the latest", async () => {
        const cp = await make();
        const [a, b, c] = [await cp.save(conversation("a"), "t1"), await cp.save(conversation("b"), "t1"), await cp.save(conversation("c"), "t1")];
        expect(await cp.delete("t1", b)).toBe(true);
        expect(await cp.listCheckpoints("t1")).toEqual([c, a]);
        expect(await cp.load("t1")).toEqual(conversation("c"));
      });

      it("deleting the only checkpoint, or the thread, removes the thread", async () => {
        const cp = await make();
        const only = await cp.save(conversation("a"), "t1");
        await cp.save(conversation("b"), "t2");
        await cp.save(conversation("c"), "t2");
        expect(await cp.delete("t1", only)).toBe(true);
        expect(await cp.exists("t1")).toBe(false);
        expect(await cp.delete("t2")).toBe(true);
        expect(await cp.exists("t2")).toBe(false);
        expect(await cp.load("t2")).toBeNull();
        expect(await cp.listCheckpoints("t2")).toEqual([]);
        expect(await cp.listThreads()).toEqual([]);
        expect(await cp.delete("t2")).toBe(false);
      });

      it("exists answers for threads and checkpoints", async () => {
        const cp = await make();
        const id = await cp.save(conversation("a"), "t1");
        expect(await cp.exists("t1")).toBe(true);
        expect(await cp.exists("t1", id)).toBe(true);
        expect(await cp.exists("t1", "other")).toBe(false);
        expect(await cp.exists("t2")).toBe(false);
      });
    });

    describe("listing threads", () => {
      it("lists thread ids, most recently updated first", async () => {
        const cp = await make();
        for (const id of ["a", "b", "c"]) {
          await cp.save(conversation(id), id);
          clock.advanceSeconds(1);
        }
        await cp.save(conversation("a2"), "a");
        expect(await cp.listThreads()).toEqual(["a", "c", "b"]);
        expect(await cp.listThreads({ limit: 2 })).toEqual(["a", "c"]);
      });

      it("matches prefixes literally: % _ and \\ are not wildcards", async () => {
        const cp = await make();
        for (const id of ["50%_a", "50%_b", "50x_c", "500_d", "a\\b", "a\\\\c", "ab", "user:1", "user:2", "user1"]) await cp.save(conversation(id), id);
        expect((await cp.listThreads({ prefix: "50%_" })).sort()).toEqual(["50%_a", "50%_b"]);
        expect((await cp.listThreads({ prefix: "50_" })).sort()).toEqual([]);
        expect((await cp.listThreads({ prefix: "a\\" })).sort()).toEqual(["a\\\\c", "a\\b"]);
        expect((await cp.listThreads({ prefix: "user:" })).sort()).toEqual(["user:1", "user:2"]);
        expect(await cp.listThreads({ prefix: "%" })).toEqual([]);
        expect(await cp.listThreads({ prefix: "" })).toHaveLength(10);
      });

      it("matches prefixes of characters a collation would ignore or that end C strings: NUL, zero-width space, BOM", async () => {
        const cp = await make();
        for (const id of ["\u0000a", "\u200bx", "\ufeffy", "plain"]) await cp.save(conversation(id), id);
        expect(await cp.listThreads({ prefix: "\u0000" })).toEqual(["\u0000a"]);
        expect(await cp.listThreads({ prefix: "\u200b" })).toEqual(["\u200bx"]);
        expect(await cp.listThreads({ prefix: "\ufeff" })).toEqual(["\ufeffy"]);
        expect((await cp.listWithMetadata({ prefix: "\u200b" })).map((s) => s.threadId)).toEqual(["\u200bx"]);
        expect((await cp.search("plain", 10, { prefix: "\u200b" })).map((h) => h.threadId)).toEqual([]);
        expect((await cp.listThreads()).sort()).toEqual(["\u0000a", "\u200bx", "\ufeffy", "plain"].sort());
      });

      it("pages with a cursor (the last id of the previous page)", async () => {
        const cp = await make();
        const ids = Array.from({ length: 7 }, (_, i) => `p${i}`);
        for (const id of ids) await cp.save(conversation(id), id); // same clock: ties broken by id
        const seen: string[] = [];
        let cursor: string | undefined;
        for (;;) {
          const page = await cp.listThreads({ limit: 3, prefix: "p", ...(cursor && { cursor }) });
          seen.push(...page);
          if (page.length < 3) break;
          cursor = page.at(-1);
        }
        expect(seen).toEqual([...ids].reverse());
        await expectCode(cp.listThreads({ cursor: "no-such-thread" }), "INVALID_INPUT");
      });
    });

    describe("metadata", () => {
      it("keeps the metadata given to save, on the latest and on each checkpoint", async () => {
        const cp = await make();
        const first = await cp.save(conversation("a"), "t1", { metadata: { agent: "x", n: 1, tags: ["a", "b"], nested: { deep: true } } });
        const second = await cp.save(conversation("b"), "t1", { metadata: { agent: "y" } });
        const latest = await cp.getMetadata("t1");
        expect(latest).toMatchObject({ threadId: "t1", checkpointId: second, parentCheckpointId: first, metadata: { agent: "y" } });
        expect(latest!.createdAt).toBeInstanceOf(Date);
        expect((await cp.getMetadata("t1", first))!).toMatchObject({
          checkpointId: first,
          parentCheckpointId: null,
          metadata: { agent: "x", n: 1, tags: ["a", "b"], nested: { deep: true } },
        });
        expect(await cp.getMetadata("t1", "missing")).toBeNull();
        expect(await cp.getMetadata("missing")).toBeNull();
        await cp.save(conversation("c"), "t1");
        expect((await cp.getMetadata("t1"))!.metadata).toEqual({});
      });

      it("queries the latest metadata by exact JSON equality", async () => {
        const cp = await make();
        await cp.save(conversation("1"), "num", { metadata: { v: 1, team: "a" } });
        await cp.save(conversation("2"), "str", { metadata: { v: "1", team: "a" } });
        await cp.save(conversation("3"), "obj", { metadata: { v: { b: 2, a: 1 }, team: "b" } });
        await cp.save(conversation("4"), "nul", { metadata: { v: null } });
        await cp.save(conversation("5"), "moved", { metadata: { v: 1 } });
        await cp.save(conversation("6"), "moved", { metadata: { v: 2 } });
        const ids = async (key: string, value: Parameters<typeof cp.queryByMetadata>[1]) =>
          (await cp.queryByMetadata(key, value)).map((s) => s.threadId).sort();
        expect(await ids("v", 1)).toEqual(["num"]);
        expect(await ids("v", "1")).toEqual(["str"]);
        expect(await ids("v", { a: 1, b: 2 })).toEqual(["obj"]);
        expect(await ids("v", null)).toEqual(["nul"]);
        expect(await ids("v", 2)).toEqual(["moved"]);
        expect(await ids("team", "a")).toEqual(["num", "str"]);
        expect(await ids("absent", 1)).toEqual([]);
        expect(await ids("' OR 1=1 --", "x")).toEqual([]);
        expect(await cp.queryByMetadata("team", "a", 1)).toHaveLength(1);
        const [hit] = await cp.queryByMetadata("v", 2);
        expect(hit).toMatchObject({ threadId: "moved", metadata: { v: 2 } });
        expect(hit!.updatedAt).toBeInstanceOf(Date);
      });

      it("lists threads with their latest metadata, most recent first", async () => {
        const cp = await make();
        const a = await cp.save(conversation("a"), "a", { metadata: { n: 1 } });
        clock.advanceSeconds(5);
        const b = await cp.save(conversation("b"), "b", { metadata: { n: 2 } });
        const list = await cp.listWithMetadata();
        expect(list.map(({ threadId, checkpointId, metadata }) => ({ threadId, checkpointId, metadata }))).toEqual([
          { threadId: "b", checkpointId: b, metadata: { n: 2 } },
          { threadId: "a", checkpointId: a, metadata: { n: 1 } },
        ]);
        expect(list[0]!.updatedAt.getTime() - list[1]!.updatedAt.getTime()).toBe(5000);
        expect(await cp.listWithMetadata({ limit: 1 })).toHaveLength(1);
      });

      it("pages the listing with metadata by prefix and cursor, as listThreads does", async () => {
        const cp = await make();
        for (const id of ["p_1", "p_2", "p_3", "px4", "q_5"]) {
          await cp.save(conversation(id), id, { metadata: { id } });
          clock.advanceSeconds(1);
        }
        const first = await cp.listWithMetadata({ prefix: "p_", limit: 2 });
        expect(first.map((s) => [s.threadId, s.metadata.id])).toEqual([["p_3", "p_3"], ["p_2", "p_2"]]);
        const rest = await cp.listWithMetadata({ prefix: "p_", limit: 2, cursor: "p_2" });
        expect(rest.map((s) => s.threadId)).toEqual(["p_1"]);
        await expectCode(cp.listWithMetadata({ cursor: "no-such-thread" }), "INVALID_INPUT");
      });
    });

    describe("vacuum", () => {
      it("deletes idle threads whole and old checkpoints of live threads, never a latest", async () => {
        const cp = await make();
        await cp.save(conversation("old 1"), "idle");
        await cp.save(conversation("old 2"), "idle");
        const oldLive = await cp.save(conversation("old"), "live");
        clock.advanceDays(40);
        const fresh = await cp.save(conversation("fresh"), "live");
        const justLatest = await cp.save(conversation("only"), "single");
        clock.advanceDays(1);
        expect(await cp.vacuum({ olderThanDays: 30 })).toBe(3);
        expect(await cp.exists("idle")).toBe(false);
        expect(await cp.listCheckpoints("live")).toEqual([fresh]);
        expect(await cp.exists("live", oldLive)).toBe(false);
        expect(await cp.listCheckpoints("single")).toEqual([justLatest]);
        expect(await cp.vacuum({ olderThanDays: 30 })).toBe(0);
      });

      it("keeps the newest keepLast checkpoints of a live thread", async () => {
        const cp = await make();
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push(await cp.save(conversation(`${i}`), "t1"));
        clock.advanceDays(10);
        const latest = await cp.save(conversation("new"), "t1");
        expect(await cp.vacuum({ olderThanDays: 5, keepLast: 3 })).toBe(3);
        expect(await cp.listCheckpoints("t1")).toEqual([latest, ids[4], ids[3]]);
      });

      it("deletes in batches beyond one batch: more dead threads and more dead checkpoints than a batch (500) and a group (25 threads)", async () => {
        const cp = await make();
        const state = conversation("x");
        // 60 idle threads of 10 checkpoints: 600 rows, all old.
        for (let t = 0; t < 60; t++) for (let i = 0; i < 10; i++) await cp.save(state, `idle-${t}`);
        // 30 live threads of 20 old checkpoints, then one new each: 600 old rows in live threads.
        for (let t = 0; t < 30; t++) for (let i = 0; i < 20; i++) await cp.save(state, `live-${t}`);
        clock.advanceDays(100);
        for (let t = 0; t < 30; t++) await cp.save(conversation("new"), `live-${t}`);
        expect(await cp.vacuum({ olderThanDays: 1 })).toBe(1200);
        expect((await cp.listThreads({ limit: 100 })).sort()).toEqual(Array.from({ length: 30 }, (_, t) => `live-${t}`).sort());
        for (let t = 0; t < 30; t++) expect(await cp.listCheckpoints(`live-${t}`, 100)).toHaveLength(1);
        expect(await cp.vacuum({ olderThanDays: 1 })).toBe(0);
      }, 120_000);
    });

    describe("branching", () => {
      it("copies the whole history in order with the same latest", async () => {
        const cp = await make();
        const ids = [await cp.save(conversation("1"), "src", { metadata: { k: 1 } }), await cp.save(conversation("1", "2"), "src", { metadata: { k: 2 } })];
        expect(await cp.copyThread("src", "branch")).toBe(true);
        expect(await cp.listCheckpoints("branch")).toEqual([...ids].reverse());
        expect(await cp.load("branch")).toEqual(conversation("1", "2"));
        expect((await cp.getMetadata("branch"))!).toMatchObject({ checkpointId: ids[1], metadata: { k: 2 } });
        expect((await cp.queryByMetadata("k", 2)).map((s) => s.threadId).sort()).toEqual(["branch", "src"]);
        // The branch then lives on its own.
        await cp.save(conversation("1", "2", "branch only"), "branch", { parentCheckpointId: ids[1] });
        expect(await cp.load("src")).toEqual(conversation("1", "2"));
        expect(await cp.listCheckpoints("branch")).toHaveLength(3);
      });

      it("returns false for a missing source and refuses an existing destination", async () => {
        const cp = await make();
        expect(await cp.copyThread("missing", "dest")).toBe(false);
        expect(await cp.exists("dest")).toBe(false);
        await cp.save(conversation("s"), "src");
        await cp.save(conversation("d"), "dest");
        await expectCode(cp.copyThread("src", "dest"), "CONFLICT");
        expect(await cp.load("dest")).toEqual(conversation("d"));
      });

      it("copies the history up to a checkpoint, which becomes the branch's latest", async () => {
        const cp = await make();
        const ids: string[] = [];
        for (const n of [1, 2, 3]) ids.push(await cp.save(conversation(`${n}`), "src", { metadata: { n } }));
        expect(await cp.copyThread("src", "branch", { checkpointId: ids[1] })).toBe(true);
        expect(await cp.listCheckpoints("branch")).toEqual([ids[1], ids[0]]);
        expect(await cp.load("branch")).toEqual(conversation("2"));
        expect((await cp.getMetadata("branch"))!).toMatchObject({ checkpointId: ids[1], parentCheckpointId: ids[0], metadata: { n: 2 } });
        expect((await cp.listWithMetadata({ prefix: "branch" }))[0]).toMatchObject({ checkpointId: ids[1], metadata: { n: 2 } });
        // The branch lives on from there; the source keeps its whole history.
        await cp.save(conversation("2", "new"), "branch", { parentCheckpointId: ids[1] });
        expect(await cp.listCheckpoints("src")).toEqual([...ids].reverse());
        expect(await cp.copyThread("src", "nothing", { checkpointId: "no-such-checkpoint" })).toBe(false);
        expect(await cp.exists("nothing")).toBe(false);
      });
    });

    describe("search", () => {
      it("finds conversations by their words, latest checkpoint of each thread", async () => {
        const cp = await make();
        await cp.save(conversation("I am planning a trip to Tokyo", "Tokyo is lovely in spring"), "trip");
        await cp.save(conversation("Help me with error handling in TypeScript"), "code");
        await cp.save(conversation("The zebra escaped"), "old");
        await cp.save(conversation("Nothing about animals now"), "old");
        const hits = await cp.search("Tokyo");
        expect(hits.map((h) => h.threadId)).toEqual(["trip"]);
        expect(hits[0]!.snippet).toContain("Tokyo");
        expect(hits[0]!.score).toBeGreaterThan(0);
        expect(hits[0]!.checkpointId).toBe((await cp.getMetadata("trip"))!.checkpointId);
        expect((await cp.search("typescript handling")).map((h) => h.threadId)).toEqual(["code"]);
        expect(await cp.search("zebra")).toEqual([]);
        expect(await cp.search("' OR 1=1; DROP TABLE x; --")).toEqual([]);
      });

      it("ranks and limits hits", async () => {
        const cp = await make();
        for (let i = 0; i < 5; i++) await cp.save(conversation(`apple ${"apple ".repeat(i)} banana`), `fruit-${i}`);
        await cp.save(conversation("cherry only"), "cherry");
        const hits = await cp.search("apple", 3);
        expect(hits).toHaveLength(3);
        expect(hits[0]!.threadId).toBe("fruit-4");
        expect(hits.map((h) => h.score)).toEqual([...hits.map((h) => h.score)].sort((a, b) => b - a));
      });

      it("searches only the threads under a prefix, literally", async () => {
        const cp = await make();
        await cp.save(conversation("walnut bread"), "a_1");
        await cp.save(conversation("walnut cake"), "ab1");
        await cp.save(conversation("walnut pie"), "b_1");
        expect((await cp.search("walnut", 10, { prefix: "a_" })).map((h) => h.threadId)).toEqual(["a_1"]);
        expect((await cp.search("walnut", 10, { prefix: "" })).map((h) => h.threadId).sort()).toEqual(["a_1", "ab1", "b_1"]);
      });
    });

    describe("ttl", () => {
      it("hides expired checkpoints, vacuums them, and restarts an expired thread", async () => {
        const cp = await make({ ttlSeconds: 60 });
        const first = await cp.save(conversation("a"), "t1", { metadata: { k: "v" } });
        await cp.save(conversation("other"), "t2");
        expect(await cp.exists("t1")).toBe(true);
        clock.advanceSeconds(61);
        expect(await cp.load("t1")).toBeNull();
        expect(await cp.load("t1", first)).toBeNull();
        expect(await cp.exists("t1")).toBe(false);
        expect(await cp.listThreads()).toEqual([]);
        expect(await cp.listCheckpoints("t1")).toEqual([]);
        expect(await cp.queryByMetadata("k", "v")).toEqual([]);
        expect(await cp.getMetadata("t1")).toBeNull();
        // A save after expiry starts the thread afresh: no parent, and compare-and-set sees no thread.
        const again = await cp.save(conversation("b"), "t1", { parentCheckpointId: null });
        expect((await cp.getMetadata("t1", again))!.parentCheckpointId).toBeNull();
        expect(await cp.listCheckpoints("t1")).toEqual([again]);
        expect(await cp.vacuum({ olderThanDays: 365 })).toBeGreaterThanOrEqual(1);
        expect(await cp.exists("t2")).toBe(false);
        expect(await cp.load("t1")).toEqual(conversation("b"));
      });
    });

    it("close is idempotent and later calls fail with a typed error", async () => {
      const cp = await make();
      await cp.save(conversation("x"), "t1");
      await cp.close();
      await cp.close();
      const error = await cp.save(conversation("y"), "t1").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CheckpointerError);
    });

    it("once closed, every method fails with UNAVAILABLE, reads included", async () => {
      const cp = await make();
      await cp.save(conversation("x"), "t1");
      await cp.close();
      const calls: [string, () => Promise<unknown>][] = [
        ["save", () => cp.save(conversation("y"), "t1")],
        ["load", () => cp.load("t1")],
        ["listCheckpoints", () => cp.listCheckpoints("t1")],
        ["delete", () => cp.delete("t1")],
        ["exists", () => cp.exists("t1")],
        ["listThreads", () => cp.listThreads()],
        ["getMetadata", () => cp.getMetadata("t1")],
        ["queryByMetadata", () => cp.queryByMetadata("k", 1)],
        ["listWithMetadata", () => cp.listWithMetadata()],
        ["vacuum", () => cp.vacuum({ olderThanDays: 1 })],
        ["copyThread", () => cp.copyThread("t1", "t2")],
        ["search", () => cp.search("x")],
      ];
      for (const [name, call] of calls) expect([name, (await expectCode(call(), "UNAVAILABLE")).code]).toEqual([name, "UNAVAILABLE"]);
    });

    describe("stored as deltas, every checkpoint stays exact", () => {
      // A seeded random run against a model: appends, edits and shrinks saved on the parent (often
      // loaded by id first, as the app does), deletes, copies and vacuums with keepLast, through
      // two replicas on one store whose clocks disagree, a clock that steps back, and a replica
      // restarted midway. Whatever chains and text runs the store builds and mends, each remaining
      // checkpoint loads as saved with its parent and metadata, listings and metadata queries
      // follow the latest checkpoints, search sees each thread's latest words, and most rows are
      // deltas (a store that saved every state whole would fail). CONTRACT_SEEDS=1,2,3 picks the
      // seeds; the seed is in every failure message.
      const seeds = (process.env.CONTRACT_SEEDS ?? "11,23,47").split(",").map(Number);
      it.each(seeds)("seed %i: replicas with skewed clocks that step back, loads by id, deletes, copies, vacuums, a restart", async (seed) => {
        const next = seeded(seed);
        const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
        let base = Date.UTC(2026, 0, 1, 12);
        const skews = [0, Math.round((next() - 0.5) * 6 * 3_600_000)];
        const clockOf = (i: number) => () => base + skews[i]!;
        const shared = await harness.shared?.();
        const openReplica = (i: number) => {
          const cp = shared ? shared(clockOf(i)) : undefined;
          if (cp) open.push(cp);
          return cp;
        };
        const first = shared ? openReplica(0)! : await harness.make({ clock: { now: clockOf(0), set: () => {}, advanceDays: () => {}, advanceSeconds: () => {} } });
        if (!shared) open.push(first);
        const replicas = shared ? [first, openReplica(1)!] : [first];
        type Entry = { id: string; state: State; at: number; parent: string | null; metadata: { n: number } };
        const model = new Map<string, Entry[]>();
        let words = 0;
        const message = () => `message ${words} says kw${++words}q`;
        const grown = (state: State): State => {
          const roll = next();
          const messages = [...state.messages];
          if (roll < 0.7 || messages.length === 0) messages.push({ role: "user", content: message() });
          else if (roll < 0.8) messages[Math.floor(next() * messages.length)] = { role: "assistant", content: message() };
          else if (roll < 0.9) messages.splice(Math.floor(next() * messages.length));
          return { messages, step: messages.length };
        };
        const at = `seed ${seed}`;
        const save = async (r: number, thread: string) => {
          const cp = replicas[r]!;
          const history = model.get(thread) ?? [];
          const latest = history.at(-1);
          if (latest && next() < 0.6) expect(await cp.load(thread, latest.id), `${at} load ${thread}`).toEqual(latest.state);
          const state = grown(latest?.state ?? { messages: [] });
          const metadata = { n: Math.floor(next() * 3) };
          const id = await cp.save(state, thread, { parentCheckpointId: latest?.id ?? null, metadata });
          model.set(thread, [...history, { id, state, at: clockOf(r)(), parent: latest?.id ?? null, metadata }]);
        };
        for (let op = 0; op < 300; op++) {
          // The shared clock mostly moves on, and sometimes steps back (NTP, a VM restored).
          base += next() < 0.05 ? -Math.floor(next() * 2 * 3_600_000) : 1000 + Math.floor(next() * 120_000);
          if (op === 150 && shared) {
            await replicas[1]!.close();
            replicas[1] = openReplica(1)!;
          }
          const r = Math.floor(next() * replicas.length);
          const threads = [...model.keys()];
          const roll = next();
          if (op === 99 || op === 199) {
            // Two days on, the threads saved to since stay; the others go whole.
            base += 2 * 86_400_000;
            const live = threads.filter(() => next() < 0.8);
            for (const thread of live) await save(Math.floor(next() * replicas.length), thread);
            const v = Math.floor(next() * replicas.length);
            const cutoff = clockOf(v)() - 86_400_000;
            const keepLast = 1 + Math.floor(next() * 20);
            let expected = 0;
            for (const [thread, history] of model) {
              const kept = history.at(-1)!.at < cutoff ? [] : history.filter((c, i) => c.at >= cutoff || i >= history.length - keepLast);
              expected += history.length - kept.length;
              if (kept.length === 0) model.delete(thread);
              else model.set(thread, kept);
            }
            expect(await replicas[v]!.vacuum({ olderThanDays: 1, keepLast }), `${at} vacuum at op ${op}`).toBe(expected);
          } else if (roll < 0.8 || threads.length === 0) {
            await save(r, next() < 0.8 || threads.length === 0 ? pick(["a", "b", "c", "d", "e"]) : pick(threads));
          } else if (roll < 0.92) {
            const thread = pick(threads);
            const history = model.get(thread)!;
            const doomed = pick(history);
            expect(await replicas[r]!.delete(thread, doomed.id), `${at} delete`).toBe(true);
            const rest = history.filter((c) => c !== doomed);
            if (rest.length === 0) model.delete(thread);
            else model.set(thread, rest);
          } else {
            const thread = pick(threads);
            const history = model.get(thread)!;
            const upTo = Math.floor(next() * history.length);
            expect(await replicas[r]!.copyThread(thread, `copy${op}`, { checkpointId: history[upTo]!.id }), `${at} copy`).toBe(true);
            model.set(`copy${op}`, history.slice(0, upTo + 1));
          }
        }
        expect([...model.values()].filter((h) => h.length >= 10).length, at).toBeGreaterThan(1);
        const reader = replicas.at(-1)!;
        for (const [thread, history] of model) {
          expect(await reader.listCheckpoints(thread, 1000), `${at} ${thread}`).toEqual(history.map((c) => c.id).reverse());
          for (const entry of history) {
            expect(await pick(replicas).load(thread, entry.id), `${at} ${thread} ${entry.id}`).toEqual(entry.state);
            const info = (await reader.getMetadata(thread, entry.id))!;
            expect({ parent: info.parentCheckpointId, metadata: info.metadata, at: info.createdAt.getTime() }, `${at} ${thread}`).toEqual({
              parent: entry.parent,
              metadata: entry.metadata,
              at: entry.at,
            });
          }
        }
        // Listings: most recently updated first (by the latest checkpoint's clock), ties by id.
        const byRecency = [...model].sort(([a, ha], [b, hb]) => hb.at(-1)!.at - ha.at(-1)!.at || (a < b ? 1 : -1)).map(([t]) => t);
        expect(await reader.listThreads({ limit: 1000 }), at).toEqual(byRecency);
        for (const n of [0, 1, 2]) {
          const expected = byRecency.filter((t) => model.get(t)!.at(-1)!.metadata.n === n);
          expect((await reader.queryByMetadata("n", n, 1000)).map((s) => s.threadId), `${at} n=${n}`).toEqual(expected);
        }
        // Each latest checkpoint's text, as its run of rows holds it, is its state's text: each line once.
        for (const [thread, history] of model) {
          expect(await storedText(reader, thread, history.at(-1)!.id), `${at} ${thread}`).toBe(defaultSearchText(history.at(-1)!.state));
        }
        // Search matches each thread's latest words only.
        const latestWords = [...model.values()].flatMap((h) => h.at(-1)!.state.messages.map((m) => m.content.split(" ").at(-1)!));
        for (const word of latestWords.filter((_, i) => i % 5 === 0)) {
          const expected = [...model].filter(([, h]) => h.at(-1)!.state.messages.some((m) => m.content.endsWith(` ${word}`))).map(([t]) => t);
          const hits = await reader.search(word, 100);
          expect(hits.map((h) => h.threadId).sort(), `${at} ${word}`).toEqual(expected.sort());
          for (const hit of hits) expect(hit.checkpointId, at).toBe(model.get(hit.threadId)!.at(-1)!.id);
        }
        // Deltas are stored at all, and storage stays well under one whole state per checkpoint.
        const stored = await storedRows(reader);
        const wholeBytes = [...model.values()].flat().reduce((n, c) => n + Buffer.byteLength(JSON.stringify(c.state)), 0);
        expect(stored.deltas / stored.rows, at).toBeGreaterThan(0.3);
        expect(stored.stateBytes / wholeBytes, at).toBeLessThan(0.5);
      });

      it("through vacuum and TTL expiry with old and new checkpoints interleaved (clocks stepped back or disagreeing)", async () => {
        for (const ttl of [false, true]) {
          for (const keepLast of [1, 2]) {
            for (const pattern of ["ONOONNOON", "OONONOOOON", "NOONOONON", "ONNOOONOON"]) {
              const cp = await make(ttl ? { ttlSeconds: 5 * 86_400 } : {});
              const start = clock.now();
              const thread = `${pattern}-${keepLast}`;
              let state: State = { messages: [] };
              const saved: { id: string; state: State; old: boolean }[] = [];
              for (const [i, kind] of [...pattern].entries()) {
                // Old checkpoints are written by a clock ten days behind the new ones'.
                clock.set(start + (kind === "O" ? 0 : 10 * 86_400_000) + i * 1000);
                state = { messages: [...state.messages, { role: "user", content: `turn ${i} says word${i}x` }] };
                saved.push({ id: await cp.save(state, thread), state, old: kind === "O" });
              }
              clock.set(start + 11 * 86_400_000);
              // Old means older than the cutoff, or (with the TTL of five days) expired.
              const kept = saved.filter((c, i) => !c.old || i >= saved.length - keepLast);
              expect(await cp.vacuum({ olderThanDays: 5, keepLast }), `${pattern} ${keepLast} ${ttl}`).toBe(saved.length - kept.length);
              expect(await cp.listCheckpoints(thread, 100)).toEqual(kept.filter((c) => !ttl || !c.old).map((c) => c.id).reverse());
              for (const c of kept) if (!ttl || !c.old) expect(await cp.load(thread, c.id), `${pattern} ${c.id}`).toEqual(c.state);
              expect(await cp.load(thread)).toEqual(saved.at(-1)!.state);
              expect((await cp.search(`word${pattern.length - 1}x`)).map((h) => h.threadId)).toEqual([thread]);
              expect((await cp.search("word0x")).map((h) => h.threadId)).toEqual([thread]);
            }
          }
        }
      });

      it("up to and past the caps: a chain of MAX_CHAIN_DELTAS splices loads, then a snapshot starts the next; text runs too (capped as well)", async () => {
        const cp = await make();
        // A large first state, then tiny appends: only the caps end the chain and the text run.
        let state: State = { messages: [{ role: "user", content: "x".repeat(200_000) }] };
        let id = await cp.save(state, "capped", { parentCheckpointId: null });
        const ids = [id];
        for (let i = 0; i < MAX_CHAIN_DELTAS + 5; i++) {
          state = { messages: [...state.messages, { role: "user", content: `t${i}` }] };
          id = await cp.save(state, "capped", { parentCheckpointId: id });
          ids.push(id);
        }
        const { backend, table } = storeOf(cp);
        const rows = await backend.database.select(
          sql<{ threadId: string }, { seq: number; base_seq: number | null; text_root_seq: number | null }>(
            `SELECT seq, base_seq, text_root_seq FROM ${table} WHERE thread_id = :threadId ORDER BY seq`,
          ),
          { threadId: "capped" },
        );
        // The deepest chain the cap allows, and the snapshot right after it.
        expect(rows.slice(1, MAX_CHAIN_DELTAS + 1).every((r) => r.base_seq !== null)).toBe(true);
        expect(rows[MAX_CHAIN_DELTAS + 1]!.base_seq).toBeNull();
        expect(rows.filter((r) => r.text_root_seq === null).length).toBeGreaterThanOrEqual(2);
        expect(await cp.load("capped", ids[MAX_CHAIN_DELTAS])).toEqual({
          messages: [{ role: "user", content: "x".repeat(200_000) }, ...Array.from({ length: MAX_CHAIN_DELTAS }, (_, i) => ({ role: "user", content: `t${i}` }))],
        });
        expect(await cp.load("capped")).toEqual(state);
        expect(await storedText(cp, "capped", id)).toBe(defaultSearchText(state));
      }, 120_000);

      it("through TTL expiry: the checkpoints after the expired ones still load, though their chains started there", async () => {
        const cp = await make({ ttlSeconds: 100 });
        let state: State = { messages: [] };
        const saved: [string, State][] = [];
        for (let i = 0; i < 60; i++) {
          if (i === 25) clock.advanceSeconds(60);
          state = { messages: [...state.messages, { role: "user", content: `turn ${i} about subject${i}` }] };
          saved.push([await cp.save(state, "ttl"), state]);
        }
        clock.advanceSeconds(50); // the first 25 expired; the last 35 have 50 s left
        expect(await cp.load("ttl", saved[0]![0])).toBeNull();
        expect(await cp.vacuum({ olderThanDays: 1000, keepLast: 1 })).toBe(25);
        expect(await cp.listCheckpoints("ttl", 100)).toEqual(saved.slice(25).map(([id]) => id).reverse());
        for (const [id, s] of saved.slice(25)) expect(await cp.load("ttl", id)).toEqual(s);
        expect((await cp.search("subject0")).map((h) => h.threadId)).toEqual(["ttl"]);
      });
    });

    describe("faults of the reference implementation, not repeated", () => {
      it("five concurrent saves to one thread leave five checkpoints", async () => {
        const cp = await make();
        await Promise.all(Array.from({ length: 5 }, (_, i) => cp.save(conversation(`${i}`), "t1")));
        expect(await cp.listCheckpoints("t1")).toHaveLength(5);
      });

      it("a deleted latest checkpoint is never loaded again", async () => {
        const cp = await make();
        await cp.save(conversation("keep"), "t1");
        const doomed = await cp.save(conversation("doomed"), "t1");
        await cp.delete("t1", doomed);
        expect(await cp.load("t1")).toEqual(conversation("keep"));
      });

      it("listThreads returns thread ids, not storage keys, and lists all by default", async () => {
        const cp = await make();
        await cp.save(conversation("a"), "t1");
        await cp.save(conversation("b"), "t1");
        await cp.save(conversation("c"), "t2");
        expect((await cp.listThreads()).sort()).toEqual(["t1", "t2"]);
      });

      it("thread ids with ':' are not confused with one another", async () => {
        const cp = await make();
        await cp.save(conversation("plain"), "t1");
        await cp.save(conversation("colon"), "t1:latest");
        await cp.save(conversation("index"), "t1:_checkpoints");
        expect(await cp.load("t1")).toEqual(conversation("plain"));
        expect(await cp.listCheckpoints("t1")).toHaveLength(1);
        expect((await cp.listThreads()).sort()).toEqual(["t1", "t1:_checkpoints", "t1:latest"]);
      });

      it("vacuum judges threads by their latest checkpoint, not by row age", async () => {
        const cp = await make();
        await cp.save(conversation("started long ago"), "active");
        clock.advanceDays(60);
        await cp.save(conversation("still talking"), "active");
        expect(await cp.vacuum({ olderThanDays: 30 })).toBe(1);
        expect(await cp.load("active")).toEqual(conversation("still talking"));
        expect(await cp.listThreads()).toEqual(["active"]);
      });
    });
  });
});
