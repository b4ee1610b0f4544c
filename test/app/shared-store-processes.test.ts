// The template as it is deployed: app processes that share one store. Two `npm start`s on one
// DATA_DIR (the embedded SQLite store), and replicas behind a round-robin balancer on MySQL, one of
// them restarted between turns. Each acknowledged turn must be stored once, and turns after a
// switch of replica still stored as deltas.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import mysql from "mysql2/promise";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import { APP_MAIN, cleanEnv, REPO, startAppProcess, type AppProcess } from "./support/app-process.js";
import { request, say } from "./support/in-process-app.js";
import { freshDatabase } from "../support/databases.js";

const running: AppProcess[] = [];
async function app(env: Record<string, string>): Promise<AppProcess> {
  const started = await startAppProcess(...APP_MAIN, { cwd: REPO, env: cleanEnv({ PORT: "0", RATE_LIMIT_PER_MINUTE: "0", ...env }) });
  running.push(started);
  return started;
}
async function stop(process: AppProcess): Promise<void> {
  process.child.kill("SIGTERM");
  await process.exited;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map(stop));
});

const userContents = (messages: { role: string; content: string }[]) => messages.filter((m) => m.role === "user").map((m) => m.content);

describe("two app processes on one embedded store (one DATA_DIR)", () => {
  let dataDir = "";
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it("parallel turns on one thread through both: every acknowledged turn stored, none twice", async () => {
    dataDir = await mkdtemp(join(tmpdir(), "two-apps-"));
    const [a, b] = [await app({ DATA_DIR: dataDir }), await app({ DATA_DIR: dataDir })];
    const turns = Array.from({ length: 24 }, (_, i) => `turn ${i}`);
    // Four turns in flight at a time, alternating processes: they race on the same thread.
    const results: { content: string; status: number }[] = [];
    for (let i = 0; i < turns.length; i += 4) {
      const batch = turns.slice(i, i + 4);
      results.push(...(await Promise.all(batch.map(async (content, j) => ({ content, status: (await say([a, b][j % 2]!.url, "shared", content)).status })))));
    }
    const acknowledged = results.filter((r) => r.status === 200).map((r) => r.content);
    // A turn may lose every retry against the other process (409), but never fails otherwise.
    expect(results.every((r) => r.status === 200 || r.status === 409)).toBe(true);
    expect(acknowledged.length).toBeGreaterThan(turns.length / 2);
    for (const reader of [a, b]) {
      const thread = await request(reader.url, "GET", "/threads/shared");
      const stored = userContents(thread.body.messages);
      expect(stored.filter((c) => acknowledged.includes(c)).sort()).toEqual([...acknowledged].sort());
      expect(new Set(stored).size).toBe(stored.length);
      // A 409 stored nothing of its turn.
      expect(stored.filter((c) => !acknowledged.includes(c))).toEqual([]);
    }
    // The processes really raced: turns lost a compare-and-set to the other process and ran again.
    expect(a.output() + b.output()).toContain("another writer saved this thread first");
  }, 120_000);
});

const rootUrl = inject("mysqlUrl");

describe.skipIf(!rootUrl)("app replicas behind a round-robin balancer on MySQL, one restarted", () => {
  let db: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  afterAll(async () => db?.drop());

  it("keeps every turn, and stores turns after a switch of replica or a restart as deltas", async () => {
    db = await freshDatabase(rootUrl!, "app_replicas");
    const replicas = [await app({ MYSQL_URL: db.url }), await app({ MYSQL_URL: db.url })];
    const turns = 30;
    for (let i = 0; i < turns; i++) {
      if (i === 15) {
        await stop(replicas[1]!);
        replicas[1] = await app({ MYSQL_URL: db.url });
      }
      const res = await say(replicas[i % 2]!.url, "rr", `turn ${i} about topic${i}`);
      expect(res.status, `turn ${i}`).toBe(200);
    }
    const thread = await request(replicas[0]!.url, "GET", "/threads/rr");
    expect(userContents(thread.body.messages)).toEqual(Array.from({ length: turns }, (_, i) => `turn ${i} about topic${i}`));
    const conn = await mysql.createConnection(db.url);
    try {
      const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT base_seq FROM cp_checkpoints WHERE thread_id = 'rr' ORDER BY seq");
      // Whole documents only where the policy wants one, not at each switch of replica (every turn here).
      expect(rows.length).toBeGreaterThanOrEqual(turns);
      expect(rows.filter((r) => r.base_seq === null).length).toBeLessThan(6);
    } finally {
      await conn.end();
    }
  }, 180_000);
});

describe("the embedded store's file, as two processes left it", () => {
  it("is one SQLite database in WAL mode", async () => {
    const dir = await mkdtemp(join(tmpdir(), "wal-"));
    try {
      const one = await app({ DATA_DIR: dir });
      expect((await say(one.url, "t", "hello")).status).toBe(200);
      const db = new DatabaseSync(join(dir, "checkpoints.db"), { readOnly: true });
      expect(db.prepare("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
      db.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
