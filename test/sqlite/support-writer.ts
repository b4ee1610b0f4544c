// A process of its own that takes turns on one thread of a shared SQLite file: reads the latest,
// appends its line, saves on it with compare-and-set, and retries on CONFLICT. Prints, as JSON,
// the checkpoint ids it was acknowledged. Usage: tsx support-writer.ts <path> <name> <turns> <start>
// where <start> is the epoch millisecond at which to begin, so several writers really overlap.
import { isCheckpointerError, SQLiteCheckpointer } from "../../checkpointer/index.js";

const [path, name, turns, start] = process.argv.slice(2) as [string, string, string, string];
const cp = new SQLiteCheckpointer<{ messages: { role: string; content: string }[] }>({ path });
await cp.exists("shared"); // opens the file before the start
await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(start) - Date.now())));
const acknowledged: string[] = [];
let conflicts = 0;
for (let i = 0; i < Number(turns); i++) {
  for (;;) {
    const latest = await cp.getMetadata("shared");
    const state = latest ? (await cp.load("shared", latest.checkpointId))! : { messages: [] };
    try {
      const id = await cp.save({ messages: [...state.messages, { role: "user", content: `${name} turn ${i}` }] }, "shared", {
        parentCheckpointId: latest?.checkpointId ?? null,
      });
      acknowledged.push(id);
      break;
    } catch (error) {
      if (!isCheckpointerError(error, "CONFLICT")) throw error;
      conflicts++;
    }
  }
}
await cp.close();
console.log(JSON.stringify({ acknowledged, conflicts }));
