// 5. A turn whose checkpoint is larger than the server's max_allowed_packet, through HTTP.
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mysqlCheckpointer } from "../../checkpointer/index.js";
import type { AgentState } from "../../app/agent/state.js";
import { freshDatabase } from "../support/databases.js";
import { startApp } from "./support/fault-app.js";
import { sendTurn } from "./support/load.js";
import { mb, type ReliabilityReport } from "./support/report.js";

export function packetLimit(report: ReliabilityReport): void {
  const rootUrl = inject("mysqlUrl");
  describe.skipIf(!rootUrl)("5. a checkpoint above max_allowed_packet", () => {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    beforeAll(async () => {
      db = await freshDatabase(rootUrl!, "fault_packet");
    });
    afterAll(() => db?.drop());

    it("is 413 TOO_LARGE; the thread keeps its earlier state and the app keeps serving", async () => {
      const admin = await mysql.createConnection(db.url);
      const [[row]] = await admin.query<mysql.RowDataPacket[]>("SELECT @@max_allowed_packet AS packet");
      await admin.end();
      const packet = Number(row!.packet);
      // A body limit above the packet, so the turn reaches the store instead of stopping at 413 from express.json.
      const app = await startApp({ MYSQL_URL: db.url, BODY_LIMIT: `${Math.ceil(packet / 2 ** 20) + 8}mb` });

      const small = await sendTurn(app.url, "big", "a small message first");
      expect(small.status).toBe(200);
      const huge = await sendTurn(app.url, "big", "x".repeat(packet));
      expect(huge.status).toBe(413);
      const { error } = JSON.parse(huge.body);
      expect(error.code).toBe("TOO_LARGE");
      // The app's own words: the store's (max_allowed_packet, any driver text) go to the log only.
      expect(error.message).toBe("the conversation would be larger than the store can save; continue in a new thread");

      const thread = (await (await fetch(`${app.url}/threads/big`)).json()) as { checkpointId: string; messages: { content: string }[] };
      expect(thread.checkpointId).toBe(small.checkpointId);
      expect(thread.messages.map((m) => m.content)).toEqual(["a small message first", expect.any(String)]);
      const store = mysqlCheckpointer<AgentState>(db.url);
      try {
        expect(await store.listCheckpoints("big")).toEqual([small.checkpointId]);
      } finally {
        await store.close();
      }

      const later = await Promise.all([sendTurn(app.url, "big", "still serving"), sendTurn(app.url, "other", "and another thread")]);
      expect(later.map((t) => t.status)).toEqual([200, 200]);
      expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
      expect(app.alive()).toBe(true);

      report.record(5, {
        title: "A checkpoint above max_allowed_packet",
        facts: [
          `MySQL's max_allowed_packet: ${mb(packet)}. With BODY_LIMIT raised above it, a turn carrying a ${mb(packet)} message ` +
            `answered 413 TOO_LARGE with the app's own message (no MySQL text; the log names max_allowed_packet); ` +
            `the module refused it before sending anything to MySQL.`,
          `The thread still had its one earlier checkpoint and state; the next turns on it and on another thread were acknowledged ` +
            `from the same process and pool, and /healthz stayed 200.`,
          `With the default BODY_LIMIT (64kb) such a request stops earlier, at 413 from the body parser (test/app/access.test.ts).`,
        ],
      });
    }, 120_000);
  });
}
