// One app replica's storage work, in a process of its own (forked by storage.ts with a
// checkpointer spec: `sqlite:<path>` or a MySQL URL). Each turn does what the app's Conversations
// does (app/agent/conversations.ts): the thread's latest checkpoint id, that checkpoint loaded BY
// ID, the turn's messages appended, and a save naming it as the parent (compare-and-set).
import { getCheckpointer } from "../checkpointer/index.js";
import type { AgentState, Message } from "../app/agent/state.js";
import { nextState } from "./states.js";

export type TurnCall = "turn" | "close";

/** What one turn cost in this process: the metadata lookup and load by id, then the save. */
export interface TurnResult {
  checkpointId: string;
  loadMs: number;
  saveMs: number;
}

const cp = getCheckpointer<AgentState>(process.argv[2]!);

async function runTurn(threadId: string, added: Message[], title: string): Promise<TurnResult> {
  let start = performance.now();
  const info = await cp.getMetadata(threadId);
  const state = info ? await cp.load(threadId, info.checkpointId) : { messages: [], iteration: 0, metadata: { title } };
  if (state === null) throw new Error(`checkpoint ${info!.checkpointId} of ${threadId} vanished between two reads`);
  const loadMs = performance.now() - start;
  const next = nextState(state, added);
  start = performance.now();
  const checkpointId = await cp.save(next, threadId, {
    parentCheckpointId: info?.checkpointId ?? null,
    metadata: { title, messages: next.messages.length, iteration: next.iteration, step: "turn" },
  });
  return { checkpointId, loadMs, saveMs: performance.now() - start };
}

process.on("message", async ({ id, call, args }: { id: number; call: TurnCall; args: unknown[] }) => {
  try {
    const result = call === "turn" ? await runTurn(...(args as [string, Message[], string])) : await cp.close();
    process.send!({ id, result });
    if (call === "close") process.disconnect();
  } catch (error) {
    process.send!({ id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
});
