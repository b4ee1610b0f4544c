// End to end with @langchain/langgraph: a graph interrupted in one process is resumed, from
// MySQL, by a second process after the first has exited. Runs examples/langgraph-interrupt.ts.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { tableNames } from "../../checkpointer/mysql/schema.js";
import { freshDatabase } from "../support/databases.js";

const run = promisify(execFile);
const url = inject("mysqlUrl");

interface Report {
  next: string[];
  interrupts: unknown[];
  state: { request: string; draft?: string; outcome?: string; drafts: number };
}

/** One process running the example to completion or to its interrupt; its last stdout line. */
async function example(dbUrl: string, ...args: string[]): Promise<Report> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", "examples/langgraph-interrupt.ts", ...args], {
    env: { ...process.env, MYSQL_URL: dbUrl },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as Report;
}

describe.skipIf(!url)("LangGraph interrupt, resumed by another process", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  beforeAll(async () => {
    db = await freshDatabase(url!, "lgint");
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("stops at interrupt(), persists to MySQL, and finishes from Command({ resume }) in a new process", { timeout: 120_000 }, async () => {
    const paused = await example(db.url, "start", "order-42", "refund for order 42");
    expect(paused.next).toEqual(["ask_human"]);
    expect(paused.interrupts).toEqual([{ question: "Send this reply?", draft: "Re: refund for order 42. We are on it." }]);
    expect(paused.state).toEqual({ request: "refund for order 42", draft: "Re: refund for order 42. We are on it.", drafts: 1 });

    // The first process has exited: what the second one resumes from is what MySQL holds.
    const conn = await mysql.createConnection(db.url);
    try {
      const t = tableNames("cp_");
      const [[saved]] = await conn.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${t.lgCheckpoints}\` WHERE thread_id = 'order-42'`);
      expect(Number(saved!.n)).toBeGreaterThanOrEqual(3); // the input, then one per step until the interrupt
      const [interrupts] = await conn.query<mysql.RowDataPacket[]>(`SELECT task_id FROM \`${t.lgWrites}\` WHERE thread_id = 'order-42' AND channel = '__interrupt__'`);
      expect(interrupts).toHaveLength(1);
    } finally {
      await conn.end();
    }

    const resumed = await example(db.url, "resume", "order-42", "yes");
    expect(resumed.next).toEqual([]);
    expect(resumed.interrupts).toEqual([]);
    // write_draft ran once across both processes: the resume started from the stored checkpoint.
    expect(resumed.state).toEqual({
      request: "refund for order 42",
      draft: "Re: refund for order 42. We are on it.",
      outcome: "sent: Re: refund for order 42. We are on it.",
      drafts: 1,
    });

    // Another thread in the same tables is independent of the first.
    await example(db.url, "start", "order-43", "a new address");
    const declined = await example(db.url, "resume", "order-43", "no");
    expect(declined.state).toMatchObject({ request: "a new address", outcome: "discarded", drafts: 1 });
  });
});
