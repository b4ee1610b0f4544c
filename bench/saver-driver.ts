// Drives one LangGraph saver through the bench's operations: the same checkpoints for every saver,
// timed where the saver runs (this process, or a child process for SQLite; see sqlite-peer.ts).
import type { RunnableConfig } from "@langchain/core/runnables";
import { emptyCheckpoint, uuid6, type BaseCheckpointSaver, type Checkpoint } from "@langchain/langgraph-checkpoint";
import { makeState, SIZES, type SizeName } from "./states.js";
import type { AgentState } from "../app/agent/state.js";

export const SAVER_OPS = ["put", "getTuple latest", "getTuple by id"] as const;
export type SaverOp = (typeof SAVER_OPS)[number];

/** One step: the op run once by each of `workers` workers at the same time. */
export interface StepResult {
  latencies: number[];
  wallMs: number;
}

export interface SaverDriver {
  name: string;
  /** Two checkpoints in each worker's thread for this size, so reads have something to read. */
  prepare(size: SizeName, workers: number): Promise<void>;
  step(op: SaverOp, size: SizeName, workers: number): Promise<StepResult>;
  close(): Promise<void>;
}

/** A worker's thread: the configs of the checkpoints it put, oldest first, and its channels' version. */
export interface ThreadLog {
  configs: RunnableConfig[];
  version: unknown;
}

/** The agent state as a graph's channels: the conversation in `messages` (which changes every step), the rest small. */
export function nextCheckpoint(state: AgentState, saver: BaseCheckpointSaver, log: ThreadLog): { checkpoint: Checkpoint; versions: Record<string, number | string> } {
  const version = saver.getNextVersion(log.version as never) as number | string;
  log.version = version;
  const checkpoint: Checkpoint = {
    ...emptyCheckpoint(),
    id: uuid6(-1),
    ts: new Date().toISOString(),
    channel_values: { messages: state.messages, iteration: state.iteration, title: state.metadata.title },
    channel_versions: { messages: version, iteration: version, title: version },
    versions_seen: { agent: { messages: version } },
  };
  return { checkpoint, versions: { messages: version, iteration: version } };
}

/** A driver for a saver living in this process. */
export function localDriver(name: string, saver: BaseCheckpointSaver, close: () => Promise<void>): SaverDriver {
  const logs = new Map<string, ThreadLog>();
  const states = new Map<SizeName, AgentState>();
  const thread = (size: SizeName, w: number) => ({ thread_id: `${size}-${w}`, checkpoint_ns: "" });
  const log = (size: SizeName, w: number) => {
    const key = `${size}-${w}`;
    return logs.get(key) ?? logs.set(key, { configs: [], version: undefined }).get(key)!;
  };
  /** Puts the next checkpoint of `l`'s thread (`start` when it has none). */
  const append = async (size: SizeName, l: ThreadLog, start: RunnableConfig["configurable"]) => {
    const { checkpoint, versions } = nextCheckpoint(states.get(size)!, saver, l);
    const parent = l.configs.at(-1) ?? { configurable: start };
    l.configs.push(await saver.put(parent, checkpoint, { source: "loop", step: l.configs.length, parents: {} }, versions));
  };
  let puts = 0;
  const ops: Record<SaverOp, (size: SizeName, w: number) => Promise<unknown>> = {
    // A thread of its own for each put, so every saver stores the whole state: putting the same
    // state again on one thread would be an empty delta for MySQLSaver (the long-conversation
    // part measures puts that add a turn).
    put: (size, w) => append(size, { configs: [], version: undefined }, { thread_id: `${size}-${w}-put-${++puts}`, checkpoint_ns: "" }),
    "getTuple latest": (size, w) => saver.getTuple({ configurable: thread(size, w) }),
    "getTuple by id": (size, w) => saver.getTuple(log(size, w).configs[0]!),
  };
  return {
    name,
    async prepare(size, workers) {
      states.set(size, makeState(SIZES[size]));
      for (let w = 0; w < workers; w++) for (let k = 0; k < 2; k++) await append(size, log(size, w), thread(size, w));
    },
    async step(op, size, workers) {
      const start = performance.now();
      const latencies = await Promise.all(
        Array.from({ length: workers }, async (_, w) => {
          const t = performance.now();
          await ops[op](size, w);
          return performance.now() - t;
        }),
      );
      return { latencies, wallMs: performance.now() - start };
    },
    close,
  };
}
