import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { CheckpointerError, isCheckpointerError, type Checkpointer, type Metadata } from "../../checkpointer/index.js";
import { KeyedQueue } from "./keyed-queue.js";
import { runTurn, type Agent } from "./loop.js";
import { emptyState, type AgentState } from "./state.js";

/** Tries to read a thread whose latest checkpoint is being deleted under us. */
const READ_ATTEMPTS = 3;

export interface Snapshot {
  checkpointId: string;
  state: AgentState;
}

export interface ThreadListing {
  threadId: string;
  updatedAt: Date;
  metadata: Metadata;
}

export interface CheckpointListing {
  checkpointId: string;
  createdAt: Date;
  metadata: Metadata;
}

export interface RetryPolicy {
  /** Tries of a turn that lost a compare-and-set race before giving up with CONFLICT. */
  attempts: number;
  /** The first backoff; it doubles per try (up to a second) and is jittered. */
  baseDelayMs: number;
}

/**
 * Every conversation operation of the app, over one checkpointer. This is the only code that
 * passes thread ids to the checkpointer, so a per-tenant id prefix would go here alone.
 *
 * A turn is load → run → save with `parentCheckpointId` (compare-and-set): when another
 * replica saved the thread in between, the save writes nothing and the turn runs again on the
 * new state. Within this process, turns on one thread also queue behind each other.
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

  /** Runs one user turn and returns the assistant's reply and the checkpoint that holds it. */
  send(threadId: string, content: string): Promise<{ checkpointId: string; reply: string }> {
    return this.#queue.run(threadId, () => this.#sendWithRetries(threadId, content));
  }

  /** The thread's latest checkpoint, or null when the thread does not exist. */
  async get(threadId: string): Promise<Snapshot | null> {
    // Id first, then that very checkpoint: reading "the latest" twice could mix two versions.
    for (let attempt = 1; attempt <= READ_ATTEMPTS; attempt++) {
      const info = await this.#checkpointer.getMetadata(threadId);
      if (!info) return null;
      const state = await this.#checkpointer.load(threadId, info.checkpointId);
      if (state) return { checkpointId: info.checkpointId, state };
      // That checkpoint was deleted between the two reads: look again.
    }
    throw new CheckpointerError("UNAVAILABLE", `thread ${JSON.stringify(threadId)} kept changing while being read`);
  }

  async list(options: { limit: number; prefix?: string | undefined }): Promise<ThreadListing[]> {
    const ids = await this.#checkpointer.listThreads({ limit: options.limit, ...(options.prefix && { prefix: options.prefix }) });
    const infos = await Promise.all(ids.map((id) => this.#checkpointer.getMetadata(id)));
    // A thread deleted between the two calls has no metadata: leave it out.
    return infos.flatMap((info) => (info ? [{ threadId: info.threadId, updatedAt: info.createdAt, metadata: info.metadata }] : []));
  }

  /** Newest first; null when the thread does not exist. */
  async checkpoints(threadId: string, limit: number): Promise<CheckpointListing[] | null> {
    const ids = await this.#checkpointer.listCheckpoints(threadId, limit);
    if (ids.length === 0) return null;
    const infos = await Promise.all(ids.map((id) => this.#checkpointer.getMetadata(threadId, id)));
    return infos.flatMap((info) => (info ? [{ checkpointId: info.checkpointId, createdAt: info.createdAt, metadata: info.metadata }] : []));
  }

  /** Copies the whole history to a new thread. False when the source does not exist; CONFLICT when the target does. */
  async fork(threadId: string, to: string): Promise<Snapshot | null> {
    if (!(await this.#checkpointer.copyThread(threadId, to))) return null;
    return this.get(to);
  }

  /** False when the thread did not exist. Waits for this process's turns on the thread. */
  delete(threadId: string): Promise<boolean> {
    return this.#queue.run(threadId, () => this.#checkpointer.delete(threadId));
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

  async #sendWithRetries(threadId: string, content: string): Promise<{ checkpointId: string; reply: string }> {
    for (let attempt = 1; ; attempt++) {
      const latest = await this.get(threadId);
      let parent = latest?.checkpointId ?? null;
      let savedMidTurn = false;
      try {
        const { state, reply } = await runTurn(this.#agent, latest?.state ?? emptyState(), content, async (partial) => {
          parent = await this.#save(threadId, partial, parent, "iteration");
          savedMidTurn = true;
        });
        return { checkpointId: await this.#save(threadId, state, parent, "turn"), reply };
      } catch (error) {
        // Once part of this turn is stored, running it again would repeat the user's message.
        if (!isCheckpointerError(error, "CONFLICT") || savedMidTurn || attempt >= this.#retry.attempts) throw error;
        const delay = Math.min(1000, this.#retry.baseDelayMs * 2 ** (attempt - 1)) * (0.5 + Math.random());
        this.#logger.warn({ threadId, attempt, delayMs: Math.round(delay) }, "another writer saved this thread first; running the turn again");
        await sleep(delay);
      }
    }
  }

  #save(threadId: string, state: AgentState, parent: string | null, step: "turn" | "iteration"): Promise<string> {
    const metadata: Metadata = {
      title: state.metadata.title ?? "",
      messages: state.messages.length,
      iteration: state.iteration,
      model: this.#agent.model.name,
      step,
    };
    return this.#checkpointer.save(state, threadId, { parentCheckpointId: parent, metadata });
  }
}
