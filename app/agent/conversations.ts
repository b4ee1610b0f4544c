import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import {
  CheckpointerError,
  isCheckpointerError,
  MAX_ID_CHARS,
  type CheckpointInfo,
  type Checkpointer,
  type Metadata,
  type SearchHit,
} from "../../checkpointer/index.js";
import { agentSpan } from "../telemetry/genai.js";
import { KeyedQueue } from "./keyed-queue.js";
import { runTurn, type Agent, type TurnObserver } from "./loop.js";
import { emptyState, type AgentState } from "./state.js";

/** Tries to read a thread whose latest checkpoint is being deleted under us. */
const READ_ATTEMPTS = 3;

/** How long a turn retries one store call that fails UNAVAILABLE (a failover, a reconnect), by default. */
const UNAVAILABLE_RETRY_MS = 5_000;

/**
 * A tenant is this many hex digits naming one API key (`http/auth.ts` derives them), or "" for the
 * single tenant of an app without API keys. Fixed length and no `:`, so no tenant's stored ids can
 * start with another's.
 */
export const TENANT_ID_CHARS = 16;
const TENANT = new RegExp(`^(?:[0-9a-f]{${TENANT_ID_CHARS}})?$`);
/** The longest thread id a client may use: storage puts `<tenant>:` in front of it. */
export const MAX_THREAD_ID_CHARS = MAX_ID_CHARS - TENANT_ID_CHARS - 1;

/** A client's thread id as stored: `<tenant>:<threadId>`, or unchanged for the tenant "". */
export function storageId(tenant: string, threadId: string): string {
  if (!TENANT.test(tenant)) throw new Error("invalid tenant id");
  return tenant === "" ? threadId : `${tenant}:${threadId}`;
}

/** A stored id as its tenant knows it. */
function clientId(tenant: string, stored: string): string {
  return tenant === "" ? stored : stored.slice(tenant.length + 1);
}

export interface Snapshot {
  checkpointId: string;
  state: AgentState;
}

export interface ThreadListing {
  threadId: string;
  updatedAt: Date;
  metadata: Metadata;
}

export interface ThreadPage {
  threads: ThreadListing[];
  /** The `cursor` of the next page; null on the last one. */
  nextCursor: string | null;
}

export interface CheckpointListing {
  checkpointId: string;
  createdAt: Date;
  metadata: Metadata;
}

export interface CheckpointPage {
  /** Newest first. */
  checkpoints: CheckpointListing[];
  /** The `cursor` of the next (older) page; null on the page that holds the thread's first checkpoint. */
  nextCursor: string | null;
}

export interface RetryPolicy {
  /** Tries of a turn that lost a compare-and-set race before giving up with CONFLICT. */
  attempts: number;
  /** The first backoff; it doubles per try (up to a second) and is jittered. */
  baseDelayMs: number;
  /**
   * How long a turn keeps retrying a store call that fails UNAVAILABLE before answering 503
   * (default 5 s): a MySQL failover takes seconds. Saves are retried with the same checkpoint
   * id, so a commit whose outcome was unknown is neither lost nor applied twice.
   */
  unavailableMs?: number;
}

/**
 * Every conversation operation of the app, over one checkpointer. This is the only code that
 * passes thread ids to the checkpointer, and it scopes them per tenant: every method takes the
 * caller's tenant, prefixes its ids in storage and strips the prefix from what it returns, so a
 * tenant can neither name nor list another's threads.
 *
 * A turn is load → run → save with `parentCheckpointId` (compare-and-set): when another
 * replica saved the thread in between, the save writes nothing and the turn runs again on the
 * new state. Within this process, turns on one thread also queue behind each other. Store calls
 * that fail UNAVAILABLE are retried for a bounded time (`RetryPolicy.unavailableMs`).
 */
export class Conversations {
  readonly #checkpointer: Checkpointer<AgentState>;
  readonly #agent: Agent;
  readonly #logger: Logger;
  readonly #retry: RetryPolicy;
  readonly #queue = new KeyedQueue();

  constructor(options: { checkpointer: Checkpointer<AgentState>; agent: Agent; logger: Logger; retry: RetryPolicy }) {
    this.#checkpointer = options.checkpointer;
    this.#agent = options.agent;
    this.#logger = options.logger;
    this.#retry = options.retry;
  }

  /**
   * Runs one user turn and returns the assistant's reply and the checkpoint that holds it. An
   * `observer` follows it as it runs (streaming): its turn is saved once, at the end, and not at
   * all once its signal is aborted.
   *
   * With `checkpointId`, the turn is saved under that id. A `rerun` of a request whose earlier run
   * may have saved it (then its process died) first looks for that checkpoint, and when the thread
   * has it, does not run the turn again: its stored reply is returned (and given to the observer whole).
   * When the earlier run saved only part of the turn (CHECKPOINT_EVERY_N_ITERATIONS), the rerun
   * starts again from before it, after that part, so the user's message is stored once.
   * Once `signal` aborts, an unobserved turn stops before its next save and saves nothing more.
   */
  send(
    tenant: string,
    threadId: string,
    content: string,
    observer?: TurnObserver,
    { checkpointId, signal, rerun = false }: { checkpointId?: string; signal?: AbortSignal; rerun?: boolean } = {},
  ): Promise<{ checkpointId: string; reply: string }> {
    const id = storageId(tenant, threadId);
    return agentSpan(threadId, () =>
      this.#scoped(tenant, () =>
        this.#queue.run(id, async () => {
          const saved = rerun && checkpointId !== undefined ? await this.#whileUnavailable(id, () => this.#checkpointer.load(id, checkpointId)) : null;
          if (saved === null) return this.#sendWithRetries(id, content, observer, { checkpointId, signal: signal ?? observer?.signal, rerun });
          const reply = saved.messages.findLast((m) => m.role === "assistant")?.content ?? "";
          observer?.onToken(reply);
          return { checkpointId: checkpointId!, reply };
        }),
      ),
    );
  }

  /** The thread's latest checkpoint, or the named one; null when either does not exist. */
  get(tenant: string, threadId: string, checkpointId?: string): Promise<Snapshot | null> {
    const id = storageId(tenant, threadId);
    return this.#scoped(tenant, async () => {
      if (checkpointId === undefined) return this.#get(id);
      const state = await this.#checkpointer.load(id, checkpointId);
      return state && { checkpointId, state };
    });
  }

  exists(tenant: string, threadId: string): Promise<boolean> {
    return this.#scoped(tenant, () => this.#checkpointer.exists(storageId(tenant, threadId)));
  }

  /**
   * One page of the tenant's threads, most recently updated first, in one query; `prefix` narrows
   * them further, `cursor` (a page's `nextCursor`) continues after the thread it names.
   */
  list(tenant: string, options: { limit: number; prefix?: string | undefined; cursor?: string | undefined }): Promise<ThreadPage> {
    const prefix = storageId(tenant, options.prefix ?? "");
    return this.#scoped(tenant, async () => {
      // One more than asked for says whether another page follows.
      const summaries = await this.#checkpointer.listWithMetadata({
        limit: options.limit + 1,
        ...(prefix && { prefix }),
        ...(options.cursor !== undefined && { cursor: storageId(tenant, options.cursor) }),
      });
      const threads = summaries
        .slice(0, options.limit)
        .map((s) => ({ threadId: clientId(tenant, s.threadId), updatedAt: s.updatedAt, metadata: s.metadata }));
      return { threads, nextCursor: summaries.length > options.limit ? threads.at(-1)!.threadId : null };
    });
  }

  /** Full-text search over the tenant's threads only, best first. */
  search(tenant: string, query: string, limit: number): Promise<SearchHit[]> {
    const prefix = storageId(tenant, "");
    return this.#scoped(tenant, async () => {
      const hits = await this.#checkpointer.search(query, limit, { prefix });
      return hits.map((hit) => ({ ...hit, threadId: clientId(tenant, hit.threadId) }));
    });
  }

  /**
   * One page of the thread's history, newest first: its latest `limit` checkpoints, or with
   * `cursor` (a page's `nextCursor`) the `limit` before that checkpoint. Following `nextCursor`
   * to the page where it is null reaches the thread's first checkpoint, at any length, each page
   * costing at most `limit` + 1 reads. Null when the thread, or the cursor's checkpoint, does not exist.
   *
   * A page after the first walks back from the cursor by each checkpoint's parent (the thread's
   * latest when it was saved): the app saves each turn on the one before it, so that is the
   * history, in order. A checkpoint whose parent has expired or been vacuumed is the oldest there is.
   */
  checkpoints(tenant: string, threadId: string, limit: number, cursor?: string): Promise<CheckpointPage | null> {
    const id = storageId(tenant, threadId);
    return this.#scoped(tenant, async () => {
      let infos: CheckpointInfo[];
      if (cursor === undefined) {
        const ids = await this.#checkpointer.listCheckpoints(id, limit);
        if (ids.length === 0) return null;
        const found = await Promise.all(ids.map((checkpointId) => this.#checkpointer.getMetadata(id, checkpointId)));
        infos = found.filter((info) => info !== null);
      } else {
        const from = await this.#checkpointer.getMetadata(id, cursor);
        if (!from) return null;
        infos = [];
        for (let parent = from.parentCheckpointId; parent !== null && infos.length < limit; ) {
          const info = await this.#checkpointer.getMetadata(id, parent);
          if (!info) break;
          infos.push(info);
          parent = info.parentCheckpointId;
        }
      }
      const last = infos.at(-1);
      return {
        checkpoints: infos.map((info) => ({ checkpointId: info.checkpointId, createdAt: info.createdAt, metadata: info.metadata })),
        nextCursor: infos.length === limit && last?.parentCheckpointId != null ? last.checkpointId : null,
      };
    });
  }

  /**
   * Copies the history to a new thread of the same tenant: all of it, or up to `checkpointId`,
   * which becomes the new thread's latest. Null when the source (or that checkpoint) does not
   * exist; CONFLICT when the target does.
   */
  fork(tenant: string, threadId: string, to: string, checkpointId?: string): Promise<Snapshot | null> {
    const [from, into] = [storageId(tenant, threadId), storageId(tenant, to)];
    return this.#scoped(tenant, async () =>
      (await this.#checkpointer.copyThread(from, into, checkpointId === undefined ? {} : { checkpointId })) ? this.#get(into) : null,
    );
  }

  /** False when the thread did not exist. Waits for this process's turns on the thread. */
  delete(tenant: string, threadId: string): Promise<boolean> {
    const id = storageId(tenant, threadId);
    return this.#scoped(tenant, () => this.#queue.run(id, () => this.#checkpointer.delete(id)));
  }

  /** Throws `UNAVAILABLE` unless the store answers a cheap query within `timeoutMs`. */
  async ping(timeoutMs: number): Promise<void> {
    const controller = new AbortController();
    const timeout = sleep(timeoutMs, undefined, { signal: controller.signal }).then(() => {
      throw new CheckpointerError("UNAVAILABLE", `the checkpointer did not answer within ${timeoutMs} ms`);
    });
    try {
      await Promise.race([this.#checkpointer.exists("__healthz__"), timeout]);
    } finally {
      controller.abort();
      timeout.catch(() => {});
    }
  }

  /** Runs `work`; a store error that names the tenant's stored ids is rethrown with the client's ids. */
  async #scoped<T>(tenant: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (tenant === "" || !isCheckpointerError(error)) throw error;
      throw new CheckpointerError(error.code, error.message.replaceAll(`${tenant}:`, ""), { cause: error });
    }
  }

  async #get(threadId: string): Promise<(Snapshot & { metadata: Metadata }) | null> {
    // Id first, then that very checkpoint: reading "the latest" twice could mix two versions.
    for (let attempt = 1; attempt <= READ_ATTEMPTS; attempt++) {
      const info = await this.#checkpointer.getMetadata(threadId);
      if (!info) return null;
      const state = await this.#checkpointer.load(threadId, info.checkpointId);
      if (state) return { checkpointId: info.checkpointId, state, metadata: info.metadata };
      // That checkpoint was deleted between the two reads: look again.
    }
    throw new CheckpointerError("UNAVAILABLE", `thread ${JSON.stringify(threadId)} kept changing while being read`);
  }

  async #sendWithRetries(
    threadId: string,
    content: string,
    observer: TurnObserver | undefined,
    { checkpointId, signal, rerun }: { checkpointId?: string | undefined; signal?: AbortSignal | undefined; rerun: boolean },
  ): Promise<{ checkpointId: string; reply: string }> {
    for (let attempt = 1; ; attempt++) {
      const latest = await this.#whileUnavailable(threadId, () => this.#get(threadId));
      let parent = latest?.checkpointId ?? null;
      // Mid-turn saves name the checkpoint the turn is to be saved under, so a rerun knows its own.
      const turnCheckpointId = checkpointId ?? randomUUID();
      // A rerun whose earlier run saved part of this turn (then died or failed) starts from before the turn, after that part.
      const ownPart = rerun && latest?.metadata.step === "iteration" && latest.metadata.turnCheckpointId === turnCheckpointId;
      let savedMidTurn = false;
      // A followed (streamed) turn is saved once, at the end: nothing is stored if it is abandoned.
      const checkpoint = observer
        ? undefined
        : async (partial: AgentState) => {
            signal?.throwIfAborted();
            parent = await this.#save(threadId, partial, parent, "iteration", randomUUID(), turnCheckpointId);
            savedMidTurn = true;
          };
      try {
        const initial = ownPart ? beforeTurn(latest.state) : (latest?.state ?? emptyState());
        const { state, reply } = await runTurn(this.#agent, initial, content, checkpoint, observer);
        signal?.throwIfAborted();
        return { checkpointId: await this.#save(threadId, state, parent, "turn", turnCheckpointId), reply };
      } catch (error) {
        // Once part of this turn is stored, running it again would repeat the user's message; once
        // it was streamed, running it again would send its tokens twice.
        const rerunnable = !savedMidTurn && !observer;
        if (!isCheckpointerError(error, "CONFLICT") || !rerunnable || attempt >= this.#retry.attempts || signal?.aborted) throw error;
        const delay = Math.min(1000, this.#retry.baseDelayMs * 2 ** (attempt - 1)) * (0.5 + Math.random());
        this.#logger.warn({ threadId, attempt, delayMs: Math.round(delay) }, "another writer saved this thread first; running the turn again");
        await sleep(delay);
      }
    }
  }

  /** Saves under `checkpointId`; a mid-turn save also names the checkpoint its turn is to be saved under. */
  #save(threadId: string, state: AgentState, parent: string | null, step: "turn" | "iteration", checkpointId: string, turnCheckpointId?: string): Promise<string> {
    const metadata: Metadata = {
      title: state.metadata.title ?? "",
      messages: state.messages.length,
      iteration: state.iteration,
      model: this.#agent.model.name,
      step,
      ...(turnCheckpointId === undefined ? {} : { turnCheckpointId }),
    };
    // One id for every try: a retry of a save that did commit is then taken as done (see the contract).
    return this.#whileUnavailable(threadId, () => this.#checkpointer.save(state, threadId, { checkpointId, parentCheckpointId: parent, metadata }));
  }

  /** Runs `work` again while it fails UNAVAILABLE, with growing pauses, for at most `unavailableMs`. */
  async #whileUnavailable<T>(threadId: string, work: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + (this.#retry.unavailableMs ?? UNAVAILABLE_RETRY_MS);
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        const delay = Math.min(1000, 50 * 2 ** (attempt - 1)) * (0.5 + Math.random());
        if (!isCheckpointerError(error, "UNAVAILABLE") || Date.now() + delay > deadline) throw error;
        this.#logger.warn({ threadId, attempt, delayMs: Math.round(delay), error: error.message }, "the store is unavailable; trying again");
        await sleep(delay);
      }
    }
  }
}

/** The state a turn started from, given a part of it saved mid-turn: the part without its user's message and what followed. */
function beforeTurn(partial: AgentState): AgentState {
  return { ...partial, messages: partial.messages.slice(0, partial.messages.findLastIndex((m) => m.role === "user")) };
}
