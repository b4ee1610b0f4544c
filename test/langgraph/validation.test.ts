// LangGraph's own conformance suite for checkpointers, run against MySQLSaver on a real server.
import { deltaChannelHistoryTests, validate, type CheckpointSaverTestInitializer } from "@langchain/langgraph-checkpoint-validation";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { MySQLSaver } from "../../checkpointer/langgraph/index.js";
import { freshDatabase } from "../support/databases.js";

// The suite's specs call vitest's globals (its CLI runs with `globals: true`).
Object.assign(globalThis, { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it });

const url = inject("mysqlUrl");
const drops = new WeakMap<MySQLSaver, () => Promise<void>>();

// Each checkpointer gets a database of its own: the list specs count every tuple they can see.
const initializer: CheckpointSaverTestInitializer<MySQLSaver> = {
  checkpointerName: "MySQLSaver",
  async createCheckpointer() {
    const db = await freshDatabase(url!, "lg");
    const saver = MySQLSaver.fromConnString(db.url);
    await saver.setup();
    drops.set(saver, db.drop);
    return saver;
  },
  async destroyCheckpointer(saver) {
    await saver.end();
    await drops.get(saver)?.();
  },
};

describe.skipIf(!url)("@langchain/langgraph-checkpoint-validation", () => {
  validate(initializer);
  // Opt-in in the package (the walk is Beta), but LangGraph runs it for every saver of its own.
  deltaChannelHistoryTests(initializer);
});
