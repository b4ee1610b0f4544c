// The stores the app runs on, for suites that run once per store: memory, SQLite in a file, and
// MySQL on a real server (a database of its own per open).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";
import { MemoryCheckpointer, mysqlCheckpointer, SQLiteCheckpointer, type Checkpointer } from "../../../checkpointer/index.js";
import type { AgentState } from "../../../app/agent/state.js";
import { freshDatabase } from "../../support/databases.js";

export interface AppStore {
  name: "memory" | "sqlite" | "mysql";
  /** Why it cannot run here, or null. */
  skip: () => string | null;
  /** A new, empty store; `cleanup` closes it and removes what it holds. */
  open: () => Promise<{ checkpointer: Checkpointer<AgentState>; cleanup: () => Promise<void> }>;
}

export const APP_STORES: readonly AppStore[] = [
  {
    name: "memory",
    skip: () => null,
    open: async () => {
      const checkpointer = new MemoryCheckpointer<AgentState>();
      return { checkpointer, cleanup: () => checkpointer.close() };
    },
  },
  {
    name: "sqlite",
    skip: () => null,
    open: async () => {
      const directory = await mkdtemp(join(tmpdir(), "app-sqlite-store-"));
      const checkpointer = new SQLiteCheckpointer<AgentState>({ path: join(directory, "checkpoints.db") });
      return {
        checkpointer,
        cleanup: async () => {
          await checkpointer.close();
          await rm(directory, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: "mysql",
    skip: () => (inject("mysqlUrl") ? null : inject("mysqlSkipReason")),
    open: async () => {
      const db = await freshDatabase(inject("mysqlUrl")!, "app_store");
      const checkpointer = mysqlCheckpointer<AgentState>(db.url);
      return {
        checkpointer,
        cleanup: async () => {
          await checkpointer.close();
          await db.drop();
        },
      };
    },
  },
];
