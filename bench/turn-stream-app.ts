// One contender of part "turn-stream", in a process of its own (forked by turn-stream.ts): the
// app's createApp from a checkout (`root`: this one, or a worktree of an older commit) over one
// store (`sqlite:<path>` or a MySQL URL with its table prefix), with a model that streams as many
// tokens as the user's message asks for, listening on 127.0.0.1. The variant says what the turn
// log does: "persisted" and "before" as their code does it, "unstored" kept in memory only (this
// app's turns without a turn row or event batches in the store). Driven over IPC (child.ts).
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import type * as AppModule from "../app/create-app.js";
import type { AgentState } from "../app/agent/state.js";
import type { CompleteOptions, Model, ModelReply, ModelRequest } from "../app/models/model.js";
import type * as CheckpointerModule from "../checkpointer/index.js";
import type { TurnClaim, TurnEvent } from "../checkpointer/index.js";

export type StreamAppCall = "start" | "stats" | "close";
export type Variant = "before" | "unstored" | "persisted";

/** The turn log's work for the turns since the last `stats` call ("persisted" only; zeros otherwise). */
export interface WriterStats {
  /** Calls of TurnLog.append: one per flush, batches and lease renewals alike. */
  appends: number;
  /** Appends that stored events (each writes one turn_events row). */
  batches: number;
  /** Events stored by appends and by finish. */
  events: number;
  /** Time from each append's call to its end, summed (the flush chain's busy time). */
  appendMs: number;
  /** Calls of TurnLog.finish (one per turn), whether they stored events, and their time (what `done` waits for). */
  finishes: number;
  finishBatches: number;
  finishMs: number;
  beginMs: number;
}

const [root, variant, spec] = process.argv.slice(2) as [string, Variant, string];
const load = <T>(path: string) => import(pathToFileURL(join(root, path)).href) as Promise<T>;

/** "stream N tokens, M ms apart" (0: a setImmediate between tokens, the fastest a model could go). */
const ASK = /^stream (\d+) tokens, (\d+(?:\.\d+)?) ms apart$/;
const WORDS = ["the ", "turn ", "log ", "keeps ", "every ", "event ", "of ", "a ", "streamed ", "reply "];

/** A model that streams the reply the user asked for, token by token, and says nothing else. */
class StreamingModel implements Model {
  readonly name = "bench-stream";

  async complete(request: ModelRequest, { signal, onToken }: CompleteOptions = {}): Promise<ModelReply> {
    const last = request.messages.at(-1);
    const ask = last?.role === "user" ? ASK.exec(last.content) : null;
    if (!ask) throw new Error(`the bench model expects "stream N tokens, M ms apart", not ${JSON.stringify(last?.content)}`);
    const tokens = Number(ask[1]);
    const paceMs = Number(ask[2]);
    const pieces: string[] = [];
    for (let i = 0; i < tokens; i++) {
      const piece = WORDS[i % WORDS.length]!;
      pieces.push(piece);
      onToken?.(piece);
      if (paceMs > 0) await sleep(paceMs);
      else await new Promise((resolve) => setImmediate(resolve));
      signal?.throwIfAborted();
    }
    return { content: pieces.join(""), toolCalls: [], usage: { inputTokens: 20, outputTokens: tokens }, finishReason: "stop", responseModel: this.name };
  }
}

const zero = (): WriterStats => ({ appends: 0, batches: 0, events: 0, appendMs: 0, finishes: 0, finishBatches: 0, finishMs: 0, beginMs: 0 });
let stats = zero();

async function open(): Promise<{ server: Server; close: () => Promise<void> }> {
  const { getCheckpointer, TurnLog } = await load<typeof CheckpointerModule>("checkpointer/index.ts");
  const { createApp } = await load<typeof AppModule>("app/create-app.ts");
  const checkpointer = getCheckpointer<AgentState>(spec);
  if (variant !== "before") {
    // A BackendCheckpointer over a MySQLBackend or SQLiteBackend: the only stores createApp takes.
    const { backend } = checkpointer as unknown as { backend: { turnLog: CheckpointerModule.TurnLog } };
    const log = backend.turnLog;
    if (variant === "unstored") {
      // Every call the producer makes answers at once, and nothing reaches the store. Every id is
      // reserved (the producer never holds an event back for a flush to store it first).
      const reservedId = Number.MAX_SAFE_INTEGER;
      class UnstoredTurnLog extends TurnLog {
        override async begin(threadId: string): Promise<TurnClaim> {
          const turn = { turnId: randomUUID(), threadId, status: "running" as const, lastId: 1, reservedId, leaseLapsed: false, cancelRequested: false, outcome: null };
          // `rerun` (a key's earlier turn failed) is never true here: the bench sends no Idempotency-Key.
          return { kind: "run", turn, checkpointId: randomUUID(), rerun: false } as TurnClaim;
        }
        override async append(): Promise<Awaited<ReturnType<CheckpointerModule.TurnLog["append"]>>> {
          return { cancelRequested: false, reservedId };
        }
        override async finish(): Promise<void> {}
        override async sweep() {
          return { interrupted: 0, eventRows: 0, keys: 0, turns: 0 };
        }
      }
      // createApp takes the turn log from the backend (app/create-app.ts, turnLogOf). The stub never
      // touches a database: it is built without one, whatever TurnLog's constructor takes.
      Object.defineProperty(backend, "turnLog", { value: new UnstoredTurnLog(...([] as unknown as ConstructorParameters<typeof TurnLog>)) });
    } else {
      // Counted and timed around the real calls (a few µs a flush).
      const begin = log.begin.bind(log);
      const append = log.append.bind(log);
      const finish = log.finish.bind(log);
      log.begin = async (...args) => {
        const start = performance.now();
        try {
          return await begin(...args);
        } finally {
          stats.beginMs += performance.now() - start;
        }
      };
      log.append = async (turnId: string, events: readonly TurnEvent[], leaseMs: number) => {
        const start = performance.now();
        try {
          return await append(turnId, events, leaseMs);
        } finally {
          stats.appends++;
          if (events.length > 0) stats.batches++;
          stats.events += events.length;
          stats.appendMs += performance.now() - start;
        }
      };
      log.finish = async (...args) => {
        const start = performance.now();
        try {
          return await finish(...args);
        } finally {
          stats.finishes++;
          if (args[1].length > 0) stats.finishBatches++;
          stats.events += args[1].length;
          stats.finishMs += performance.now() - start;
        }
      };
    }
  }
  const app = createApp({
    checkpointer,
    checkpointerKind: spec.startsWith("sqlite:") ? "sqlite" : "mysql",
    model: new StreamingModel(),
    // No limiter (the bench sends more than 120 turns a minute); the rest as an empty environment.
    options: { rateLimitPerMinute: 0 },
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await checkpointer.close();
    },
  };
}

let opened: Awaited<ReturnType<typeof open>> | undefined;

process.on("message", async ({ id, call }: { id: number; call: StreamAppCall }) => {
  try {
    let result: unknown;
    if (call === "start") {
      opened = await open();
      result = `http://127.0.0.1:${(opened.server.address() as AddressInfo).port}`;
    } else if (call === "stats") {
      result = stats;
      stats = zero();
    } else {
      await opened?.close();
    }
    process.send!({ id, result });
    if (call === "close") process.disconnect();
  } catch (error) {
    process.send!({ id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
});
