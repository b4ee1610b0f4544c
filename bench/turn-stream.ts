// Part "turn-stream" (issue 20): the wall time of one streamed turn over HTTP (POST
// /threads/:id/messages with Accept: text/event-stream, read to its `done` event) whose model
// streams a 2,000-token reply, with the turn's events persisted to the store's turn log as they
// are produced (this app), against the same turn without persistence: the app at the commit
// before the turn log came in (checked out with `git worktree add`, run on this checkout's
// node_modules), and this app with its turn log kept in memory only. SQLite (a file) and MySQL;
// a model that streams as fast as it can (a setImmediate per token: every cost shows) and one at
// a realistic pace. Each contender is a process of its own (turn-stream-app.ts), the client is
// this one; contenders take turns one turn at a time, in rotating order, over repeated rounds.
//
// BENCH_TURN_STREAM_APP=<dir> runs "unstored" and "persisted" from another checkout (a copy of
// app/ and checkpointer/ with a change to try, its node_modules linked to this one's), so a
// change to the turn writer can be measured against the same "before".
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";
import mysql from "mysql2/promise";
import { forkChild, type Child } from "./child.js";
import { target, type BenchContext, type PartResult, type Target } from "./context.js";
import { ms, percentile, rotate, table, times } from "./stats.js";
import type { StreamAppCall, Variant, WriterStats } from "./turn-stream-app.js";

interface Flavour {
  key: "fast" | "paced";
  label: string;
  tokens: number;
  /** 0: a setImmediate between tokens. */
  paceMs: number;
  rounds: number;
}

const TOKENS = 2_000;
const PACE_MS = 2;
const FULL: Flavour[] = [
  { key: "fast", label: "as fast as possible", tokens: TOKENS, paceMs: 0, rounds: 40 },
  { key: "paced", label: `${PACE_MS} ms a token`, tokens: TOKENS, paceMs: PACE_MS, rounds: 5 },
];
// Quick (the smoke test): every path once or twice; the paced reply shorter, or a round would take half a minute.
const QUICK: Flavour[] = [
  { key: "fast", label: "as fast as possible", tokens: TOKENS, paceMs: 0, rounds: 2 },
  { key: "paced", label: `${PACE_MS} ms a token`, tokens: 200, paceMs: PACE_MS, rounds: 1 },
];
/** Untimed turns each contender runs first (JIT, pool connections, tables, the SQLite file's pages). */
const WARM_UP = 3;
/** The target: a turn with its events persisted ≤ 1.2× the time without persistence. */
const LIMIT = 1.2;

const VARIANTS: readonly Variant[] = ["before", "unstored", "persisted"];
const STORES = ["SQLite", "MySQL"] as const;
type Store = (typeof STORES)[number];

/** The commit before the turn log came in: the one before the commit that added app/turns/turn-writer.ts. */
function beforeCommit(): string {
  const added = execFileSync("git", ["log", "--diff-filter=A", "--format=%H", "--", "app/turns/turn-writer.ts"], { encoding: "utf8" }).trim().split("\n").at(-1);
  if (!added) throw new Error("app/turns/turn-writer.ts has no commit that added it");
  return execFileSync("git", ["rev-parse", `${added}^`], { encoding: "utf8" }).trim();
}

interface StreamedTurn {
  ms: number;
  tokens: number;
  turnId: string | undefined;
}

/** One streamed turn: POST, then the event stream read until its `done` event has arrived (the time), then to its end. */
async function streamTurn(url: string, threadId: string, content: string, expectTokens: number): Promise<StreamedTurn> {
  const start = performance.now();
  const response = await fetch(`${url}/threads/${threadId}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ content }),
  });
  if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let doneAt: number | undefined;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const from = Math.max(0, text.length - 16);
    text += value;
    if (doneAt === undefined) {
      const at = text.indexOf("event: done\n", from);
      if (at >= 0 && text.indexOf("\n\n", at) >= 0) doneAt = performance.now();
    }
  }
  if (doneAt === undefined) throw new Error(`the stream ended without a done event: ${text.slice(-500)}`);
  // Checked after the clock stopped: every token arrived once, in order, and they add up to the saved reply.
  const events = text.split("\n\n").filter((block) => block !== "").map((block) => {
    const event = /^event: (.*)$/m.exec(block)?.[1];
    const data = /^data: (.*)$/m.exec(block)?.[1];
    return { event, data: data === undefined ? undefined : (JSON.parse(data) as Record<string, unknown>) };
  });
  const tokens = events.filter((e) => e.event === "token").map((e) => (e.data as { text: string }).text);
  const done = events.find((e) => e.event === "done")!.data as { turnId?: string; reply: { content: string } };
  if (tokens.length !== expectTokens || tokens.join("") !== done.reply.content) {
    throw new Error(`${url}: ${tokens.length} token events of ${expectTokens}, ${tokens.join("") === done.reply.content ? "" : "not "}adding up to the reply`);
  }
  return { ms: doneAt - start, tokens: tokens.length, turnId: done.turnId ?? response.headers.get("x-turn-id") ?? undefined };
}

/** The turn_events rows of one turn and the events they hold. */
type RowCounter = (turnId: string) => Promise<{ rows: number; events: number }>;
const COUNT_SQL = (table: string) => `SELECT COUNT(*) AS n, COALESCE(SUM(last_id - first_id + 1), 0) AS events FROM ${table} WHERE turn_id = ?`;

const median = (list: number[]) => percentile([...list].sort((a, b) => a - b), 50);
const sum = (list: number[]) => list.reduce((a, b) => a + b, 0);

export async function runTurnStream(ctx: BenchContext): Promise<PartResult> {
  const title = "Part turn-stream: a streamed 2,000-token turn with its events persisted, against the same turn without";
  const flavours = ctx.quick ? QUICK : FULL;
  const commit = beforeCommit();
  const current = resolve(process.env.BENCH_TURN_STREAM_APP ?? ".");
  const temp = mkdtempSync(join(tmpdir(), "bench-turn-stream-"));
  const worktree = join(temp, "before");
  execFileSync("git", ["worktree", "add", "--detach", "--quiet", worktree, commit]);
  const children = new Map<string, { child: Child<StreamAppCall>; url: string }>();
  const key = (store: Store, variant: Variant) => `${store}/${variant}`;
  const spec = (store: Store, variant: Variant) => {
    if (store === "SQLite") return `sqlite:${join(temp, `${variant}.db`)}`;
    const url = new URL(ctx.mysqlUrl);
    url.searchParams.set("table-prefix", `ts_${variant}_`);
    return url.toString();
  };
  let connection: mysql.Connection | undefined;
  let sqlite: DatabaseSync | undefined;
  const countRows: Record<Store, RowCounter> = {
    MySQL: async (turnId) => {
      connection ??= await mysql.createConnection(ctx.mysqlUrl);
      const [rows] = await connection.query<mysql.RowDataPacket[]>(COUNT_SQL("ts_persisted_turn_events"), [turnId]);
      return { rows: Number(rows[0]!.n), events: Number(rows[0]!.events) };
    },
    SQLite: async (turnId) => {
      sqlite ??= new DatabaseSync(join(temp, "persisted.db"), { readOnly: true, timeout: 5_000 });
      const row = sqlite.prepare(COUNT_SQL("turn_events")).get(turnId) as { n: number; events: number };
      return { rows: Number(row.n), events: Number(row.events) };
    },
  };
  const samples = new Map<string, number[]>();
  const record = <T>(map: Map<string, T[]>, name: string, value: T) => void (map.get(name) ?? map.set(name, []).get(name)!).push(value);
  /** Per (store, flavour): the persisted turns' turn_events rows and the turn log's work. */
  const rows = new Map<string, number[]>();
  const writer = new Map<string, WriterStats[]>();
  const failures: string[] = [];
  let thread = 0;
  try {
    // The old code's imports of express, mysql2… resolve to this checkout's packages.
    symlinkSync(resolve("node_modules"), join(worktree, "node_modules"));
    for (const store of STORES) {
      for (const variant of VARIANTS) {
        const child = forkChild<StreamAppCall>(new URL("./turn-stream-app.ts", import.meta.url), [variant === "before" ? worktree : current, variant, spec(store, variant)], `turn-stream ${variant} on ${store}`);
        const url = await Promise.race([child.request<string>("start"), child.died.then((e) => Promise.reject(e))]);
        children.set(key(store, variant), { child, url });
      }
    }
    const ask = (f: Flavour) => `stream ${f.tokens} tokens, ${f.paceMs} ms apart`;
    const turn = async (store: Store, variant: Variant, f: Flavour, timed: boolean) => {
      const { child, url } = children.get(key(store, variant))!;
      await child.request("stats"); // resets them: what follows is this turn's
      const result = await streamTurn(url, `ts-${variant}-${thread++}`, ask(f), f.tokens);
      const stats = await child.request<WriterStats>("stats");
      if (!timed) return;
      record(samples, `${store}/${f.key}/${variant}`, result.ms);
      if (variant !== "persisted") return;
      const stored = await countRows[store](result.turnId!);
      record(rows, `${store}/${f.key}`, stored.rows);
      record(writer, `${store}/${f.key}`, stats);
      // The turn log holds every token event exactly once, one row per batch written.
      if (stored.events !== f.tokens || stored.rows !== stats.batches + stats.finishBatches) {
        failures.push(`${store}, turn ${result.turnId}: turn_events holds ${stored.events} events in ${stored.rows} rows; expected ${f.tokens} in ${stats.batches + stats.finishBatches}`);
      }
    };
    for (const store of STORES) {
      for (const variant of VARIANTS) {
        for (let i = 0; i < WARM_UP; i++) await turn(store, variant, flavours[0]!, false);
        await turn(store, variant, { ...flavours[1]!, tokens: 20 }, false);
      }
    }
    for (const f of flavours) {
      for (let round = 0; round < f.rounds; round++) {
        // Stores and variants in rotating order: none always runs first, or right after another.
        for (const store of rotate(STORES, round)) for (const variant of rotate(VARIANTS, round + (store === "MySQL" ? 1 : 0))) await turn(store, variant, f, true);
        if ((round + 1) % 5 === 0 || round + 1 === f.rounds) ctx.log(`  ${f.label}: round ${round + 1}/${f.rounds} done`);
      }
    }
  } finally {
    sqlite?.close();
    await connection?.end();
    await Promise.all([...children.values()].map(({ child }) => child.request("close").catch(() => undefined)));
    execFileSync("git", ["worktree", "remove", "--force", worktree]);
    rmSync(temp, { recursive: true, force: true });
  }

  const p50 = (store: Store, f: Flavour, variant: Variant) => median(samples.get(`${store}/${f.key}/${variant}`) ?? []);
  /** Round by round: the persisted turn over the other one of the same round (pairs taken in order). */
  const paired = (store: Store, f: Flavour, other: Variant) => {
    const mine = samples.get(`${store}/${f.key}/persisted`) ?? [];
    const theirs = samples.get(`${store}/${f.key}/${other}`) ?? [];
    return median(mine.map((m, i) => m / theirs[i]!));
  };
  const combos = STORES.flatMap((store) => flavours.map((f) => ({ store, f })));
  const targets: Target[] = combos.map(({ store, f }) =>
    target(`streamed ${f.tokens.toLocaleString("en-US")}-token turn, events persisted / before issue 20, ${store}, ${f.label}`, p50(store, f, "persisted") / p50(store, f, "before"), LIMIT),
  );
  const work = (store: Store, f: Flavour) => {
    const list = writer.get(`${store}/${f.key}`) ?? [];
    const stored = rows.get(`${store}/${f.key}`) ?? [];
    const appends = sum(list.map((s) => s.appends));
    return {
      rowsP50: median(stored),
      rowsMax: Math.max(...stored),
      appendsP50: median(list.map((s) => s.appends)),
      appendsMax: Math.max(...list.map((s) => s.appends)),
      batchesP50: median(list.map((s) => s.batches)),
      eventsPerRow: sum(list.map((s) => s.events)) / Math.max(1, sum(stored)),
      msPerAppend: sum(list.map((s) => s.appendMs)) / Math.max(1, appends),
      appendMsP50: median(list.map((s) => s.appendMs)),
      finishMsP50: median(list.map((s) => s.finishMs)),
      beginMsP50: median(list.map((s) => s.beginMs)),
    };
  };
  const app = current === resolve(".") ? "this app" : `the app in ${current} (BENCH_TURN_STREAM_APP)`;
  return {
    title,
    report: [
      `One turn at a time over HTTP: POST /threads/:id/messages with \`Accept: text/event-stream\`, timed from the request to the arrival of its \`done\` event, each turn on a new thread; the model (in the bench) streams a reply of N one-word tokens, ` +
        "**as fast as possible** (a `setImmediate` between tokens: the strictest case, every cost of an event shows) or **at a pace** (a timer between tokens, as a real model's stream). " +
        `Three contenders, each its own process on its own store (an SQLite file, or MySQL tables of their own), the client in the bench's process: **before**, \`createApp\` of ${commit.slice(0, 10)} (the commit before the turn log, from a \`git worktree\`: it streamed without persisting events); ` +
        `**unstored**, ${app} with its turn log answered in memory (no turn row, no event batches: it differs from persisted only in what the turn log writes); **persisted**, ${app} as it is (events batched to the turn log: a flush 50 ms after the first event of a batch, or at once when the batch is full, \`MAX_BATCH\` in app/turns/turns.ts; the lease renewed with each flush). ` +
        `After ${WARM_UP} untimed turns each (and a short paced one), every round runs one turn of each contender per store, in rotating order; p50 over the rounds. "by round" is the median of each round's ratio.`,
      table(
        ["store", "model", "tokens", "rounds", "before p50 ms", "unstored p50 ms", "persisted p50 ms", "persisted / before", "by round", "persisted / unstored", "by round "],
        combos.map(({ store, f }) => [
          store,
          f.label,
          f.tokens,
          samples.get(`${store}/${f.key}/persisted`)?.length ?? 0,
          ms(p50(store, f, "before")),
          ms(p50(store, f, "unstored")),
          ms(p50(store, f, "persisted")),
          times(p50(store, f, "persisted") / p50(store, f, "before")),
          times(paired(store, f, "before")),
          times(p50(store, f, "persisted") / p50(store, f, "unstored")),
          times(paired(store, f, "unstored")),
        ]),
      ),
      "The turn log's work per persisted turn: turn_events rows (counted in the store after each turn), calls of `TurnLog.append` (each flush, with events or only renewing the lease) and the time they took from call to end (summed per turn, and per call), " +
        "and the two calls every turn makes whatever its length: `begin` (the turn row) and `finish` (the last batch and the final event, which `done` waits for).",
      table(
        ["store", "model", "tokens", "rows p50 (max)", "events per row", "appends p50 (max)", "of them with events", "ms per append", "append ms per turn p50", "begin ms p50", "finish ms p50"],
        combos.map(({ store, f }) => {
          const w = work(store, f);
          return [store, f.label, f.tokens, `${w.rowsP50} (${w.rowsMax})`, w.eventsPerRow.toFixed(0), `${w.appendsP50} (${w.appendsMax})`, w.batchesP50, ms(w.msPerAppend), ms(w.appendMsP50), ms(w.beginMsP50), ms(w.finishMsP50)];
        }),
      ),
    ],
    data: {
      commit,
      app: current === resolve(".") ? "." : current,
      warmUp: WARM_UP,
      flavours,
      rows: combos.map(({ store, f }) => ({
        store,
        flavour: f.key,
        tokens: f.tokens,
        paceMs: f.paceMs,
        samples: Object.fromEntries(VARIANTS.map((v) => [v, samples.get(`${store}/${f.key}/${v}`) ?? []])),
        p50: Object.fromEntries(VARIANTS.map((v) => [v, p50(store, f, v)])),
        persistedVsBefore: p50(store, f, "persisted") / p50(store, f, "before"),
        persistedVsUnstored: p50(store, f, "persisted") / p50(store, f, "unstored"),
        pairedVsBefore: paired(store, f, "before"),
        pairedVsUnstored: paired(store, f, "unstored"),
        turnEventsRows: rows.get(`${store}/${f.key}`) ?? [],
        writer: work(store, f),
      })),
    },
    targets,
    failures,
  };
}
