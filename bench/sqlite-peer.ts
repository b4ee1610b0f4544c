// The SQLite saver in a child process (forked by peers.ts). better-sqlite3 12 on Node 24 can abort
// the whole process when the GC finalizes a statement ("Assertion failed: (env) != nullptr" in
// RemoveEnvironmentCleanupHook); here an abort costs this peer only. Requests arrive over IPC and
// each operation is timed in this process, so IPC is not part of its latency.
import { join } from "node:path";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { localDriver } from "./saver-driver.js";

export interface Request {
  id: number;
  call: "prepare" | "step" | "close";
  args: unknown[];
}

const directory = process.argv[2]!;
const saver = SqliteSaver.fromConnString(join(directory, "checkpoints.db"));
const driver = localDriver("SqliteSaver (file)", saver, async () => saver.db.close());

process.on("message", async ({ id, call, args }: Request) => {
  try {
    const result = await (driver[call] as (...a: unknown[]) => Promise<unknown>)(...args);
    process.send!({ id, result });
    if (call === "close") process.disconnect();
  } catch (error) {
    process.send!({ id, error: String(error) });
  }
});
