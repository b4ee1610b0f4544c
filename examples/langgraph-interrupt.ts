// Human-in-the-loop across processes: a LangGraph.js graph pauses at interrupt(), this process
// exits, and a later process resumes the same thread from MySQL.
//
//   export MYSQL_URL=mysql://root@127.0.0.1:3307/agent
//   npx tsx examples/langgraph-interrupt.ts start order-42 "refund for order 42"
//   npx tsx examples/langgraph-interrupt.ts resume order-42 yes
//
// Each run prints one JSON line: the nodes still to run, the open interrupts and the state.
import { Annotation, Command, END, START, StateGraph, interrupt } from "@langchain/langgraph";
import { MySQLSaver } from "../checkpointer/langgraph/index.js";

const State = Annotation.Root({
  request: Annotation<string>,
  draft: Annotation<string>,
  outcome: Annotation<string>,
  // Counts how often the draft node ran: once, even though the run spans two processes.
  drafts: Annotation<number>({ reducer: (a, b) => a + b, default: () => 0 }),
});

const graph = new StateGraph(State)
  .addNode("write_draft", (state) => ({ draft: `Re: ${state.request}. We are on it.`, drafts: 1 }))
  // interrupt() stops the run here; on resume the node runs again and interrupt() returns the answer.
  .addNode("ask_human", (state) => {
    const answer = interrupt({ question: "Send this reply?", draft: state.draft });
    return { outcome: answer === "yes" ? `sent: ${state.draft}` : "discarded" };
  })
  .addEdge(START, "write_draft")
  .addEdge("write_draft", "ask_human")
  .addEdge("ask_human", END);

const [command, threadId, argument] = process.argv.slice(2);
if ((command !== "start" && command !== "resume") || !threadId || !argument || !process.env.MYSQL_URL) {
  console.error("usage: MYSQL_URL=mysql://… langgraph-interrupt.ts start <thread-id> <request> | resume <thread-id> <answer>");
  process.exit(2);
}

const checkpointer = MySQLSaver.fromConnString(process.env.MYSQL_URL);
try {
  const app = graph.compile({ checkpointer });
  const config = { configurable: { thread_id: threadId } };
  await app.invoke(command === "start" ? { request: argument } : new Command({ resume: argument }), config);
  const snapshot = await app.getState(config);
  const interrupts = snapshot.tasks.flatMap((task) => task.interrupts.map((i) => i.value));
  process.stdout.write(`${JSON.stringify({ next: snapshot.next, interrupts, state: snapshot.values })}\n`);
} finally {
  await checkpointer.end();
}
