// What a thread's stored history must look like after any fault, read through the checkpointer.
import { isDeepStrictEqual } from "node:util";
import type { Checkpointer } from "../../../checkpointer/index.js";
import type { AgentState, Message } from "../../../app/agent/state.js";
import { echoReply } from "../../../app/models/demo.js";
import type { Turn } from "./load.js";

export interface ThreadAudit {
  /** Checkpoint ids from the latest back to the first, following `parentCheckpointId`. */
  chain: string[];
  /** The user's messages, oldest first: the thread's serial order of turns. */
  messages: string[];
  /** Acknowledged turns (200) that are not in the history. */
  lost: Turn[];
  /** What else is wrong; empty when the history is sound. */
  problems: string[];
}

/**
 * Checks that `threadId`'s history is one unbroken chain of parents from its latest checkpoint
 * back to the first, that it holds nothing else, that each checkpoint is its parent plus exactly
 * one turn answered on the whole conversation before it (the demo model quotes the message and
 * counts the user's messages it saw), that no message is stored twice, and that each
 * acknowledged turn's checkpoint is in the chain and holds its message.
 */
export async function auditThread(store: Checkpointer<AgentState>, threadId: string, turns: readonly Turn[]): Promise<ThreadAudit> {
  const problems: string[] = [];
  const chain: string[] = [];
  for (let info = await store.getMetadata(threadId); info; ) {
    if (chain.includes(info.checkpointId)) {
      problems.push(`a cycle at checkpoint ${info.checkpointId}`);
      break;
    }
    chain.push(info.checkpointId);
    const parent = info.parentCheckpointId;
    if (parent === null) break;
    info = await store.getMetadata(threadId, parent);
    if (!info) problems.push(`the parent ${parent} of ${chain.at(-1)} is missing`);
  }
  const stored = await store.listCheckpoints(threadId, 10_000);
  if (!isDeepStrictEqual(stored, chain)) problems.push(`stored checkpoints [${stored}] are not the chain [${chain}]`);

  const histories = new Map<string, Message[]>();
  let previous: Message[] = [];
  for (const [i, id] of [...chain].reverse().entries()) {
    const messages = (await store.load(threadId, id))?.messages ?? [];
    const [user, reply] = messages.slice(-2);
    const extendsParent = messages.length === previous.length + 2 && isDeepStrictEqual(messages.slice(0, -2), previous);
    const answersTurn = user?.role === "user" && reply?.role === "assistant" && reply.content === echoReply(user.content, i + 1);
    if (!extendsParent || !answersTurn) problems.push(`checkpoint ${id} is not its parent plus one turn answered in order`);
    histories.set(id, messages);
    previous = messages;
  }

  const messages = previous.filter((m) => m.role === "user").map((m) => m.content);
  if (new Set(messages).size !== messages.length) problems.push("a message is stored twice");
  const lost = turns.filter((t) => {
    if (t.threadId !== threadId || t.status !== 200) return false;
    const user = histories.get(t.checkpointId!)?.at(-2);
    return !(user?.role === "user" && user.content === t.content);
  });
  return { chain, messages, lost, problems };
}

/** Audits every thread; `problems` are prefixed with the thread id. */
export async function auditThreads(store: Checkpointer<AgentState>, threadIds: readonly string[], turns: readonly Turn[]) {
  const audits = await Promise.all(threadIds.map((id) => auditThread(store, id, turns)));
  return {
    audits,
    lost: audits.flatMap((a) => a.lost),
    problems: audits.flatMap((a, i) => a.problems.map((p) => `${threadIds[i]}: ${p}`)),
    checkpoints: audits.reduce((sum, a) => sum + a.chain.length, 0),
  };
}
