// 4. Bad input over the HTTP API (an app process with API keys) and the module's public functions,
// on one database: every answer is a 4xx JSON error or a typed CheckpointerError, hostile strings
// are stored and matched literally, and afterwards the schema and the data are exactly as expected.
import { isDeepStrictEqual } from "node:util";
import mysql from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { isCheckpointerError, mysqlCheckpointer, type MySQLCheckpointer } from "../../checkpointer/index.js";
import type { AgentState } from "../../app/agent/state.js";
import { tenantOfKey } from "../../app/http/auth.js";
import { freshDatabase } from "../support/databases.js";
import { startApp, type FaultApp } from "./support/fault-app.js";
import {
  BAD_BODIES,
  BAD_FORK_BODIES,
  BAD_PATH_SEGMENTS,
  BAD_QUERIES,
  CONTROL_STRINGS,
  INJECTION_STRINGS,
  INVALID_UTF16,
} from "./support/hostile-input.js";
import type { ReliabilityReport } from "./support/report.js";

const KEY_A = "fault-key-a-0123456789abcdef";
const KEY_B = "fault-key-b-0123456789abcdef";
/** Valid strings: each becomes a thread id, a prefix, a metadata key and value, a search query. */
const HOSTILE = [...new Set([...INJECTION_STRINGS, ...CONTROL_STRINGS])];

type Call = (cp: MySQLCheckpointer<AgentState>) => Promise<unknown>;
const state = (content: string): AgentState => ({ messages: [{ role: "user", content }], iteration: 0, metadata: {} });
const cyclic: Record<string, unknown> = {};
cyclic.self = cyclic;

/** Module calls with wrong types or out-of-range values: each must throw a CheckpointerError. */
const WRONG_CALLS: [string, Call][] = [
  ["save: thread id a number", (cp) => cp.save(state("x"), 42 as never)],
  ["save: options null", (cp) => cp.save(state("x"), "wrong", null as never)],
  ["save: options a string", (cp) => cp.save(state("x"), "wrong", "x" as never)],
  ["listThreads: options null", (cp) => cp.listThreads(null as never)],
  ["listWithMetadata: options null", (cp) => cp.listWithMetadata(null as never)],
  ["vacuum: options null", (cp) => cp.vacuum(null as never)],
  ["save: thread id empty", (cp) => cp.save(state("x"), "")],
  ["save: thread id 256 characters", (cp) => cp.save(state("x"), "x".repeat(256))],
  ["save: checkpoint id a number", (cp) => cp.save(state("x"), "wrong", { checkpointId: 5 as never })],
  ["save: parent an object", (cp) => cp.save(state("x"), "wrong", { parentCheckpointId: {} as never })],
  ["save: metadata a string", (cp) => cp.save(state("x"), "wrong", { metadata: "x" as never })],
  ["save: metadata an array", (cp) => cp.save(state("x"), "wrong", { metadata: [1] as never })],
  ["save: a Date in metadata", (cp) => cp.save(state("x"), "wrong", { metadata: { d: new Date() } as never })],
  ["save: NaN in metadata", (cp) => cp.save(state("x"), "wrong", { metadata: { n: NaN } })],
  ["save: a function in metadata", (cp) => cp.save(state("x"), "wrong", { metadata: { f: () => 1 } as never })],
  ["save: cyclic metadata", (cp) => cp.save(state("x"), "wrong", { metadata: cyclic as never })],
  ["save: metadata over 64 KB", (cp) => cp.save(state("x"), "wrong", { metadata: { big: "x".repeat(70_000) } })],
  ["save: a BigInt in the state", (cp) => cp.save({ n: 1n } as never, "wrong")],
  ["save: a function as the state", (cp) => cp.save((() => 1) as never, "wrong")],
  ["save: a Map as the state", (cp) => cp.save(new Map() as never, "wrong")],
  ["save: undefined as the state", (cp) => cp.save(undefined as never, "wrong")],
  ["save: a cyclic state", (cp) => cp.save(cyclic as never, "wrong")],
  ["load: thread id null", (cp) => cp.load(null as never)],
  ["load: checkpoint id a number", (cp) => cp.load("wrong", 42 as never)],
  ...[0, -1, 1.5, 10_001, NaN, Infinity, "5"].map((limit): [string, Call] => [`listCheckpoints: limit ${String(limit)}`, (cp) => cp.listCheckpoints("wrong", limit as never)]),
  ["delete: thread id an object", (cp) => cp.delete({} as never)],
  ["exists: thread id an array", (cp) => cp.exists([] as never)],
  ["getMetadata: thread id a number", (cp) => cp.getMetadata(42 as never)],
  ["listThreads: limit -1", (cp) => cp.listThreads({ limit: -1 })],
  ["listThreads: prefix a number", (cp) => cp.listThreads({ prefix: 5 as never })],
  ["listThreads: prefix 256 characters", (cp) => cp.listThreads({ prefix: "x".repeat(256) })],
  ["listThreads: cursor of no thread", (cp) => cp.listThreads({ cursor: "no such thread" })],
  ["listThreads: cursor a number", (cp) => cp.listThreads({ cursor: 7 as never })],
  ["queryByMetadata: key empty", (cp) => cp.queryByMetadata("", 1)],
  ["queryByMetadata: key a number", (cp) => cp.queryByMetadata(1 as never, 1)],
  ["queryByMetadata: key 256 characters", (cp) => cp.queryByMetadata("k".repeat(256), 1)],
  ["queryByMetadata: value undefined", (cp) => cp.queryByMetadata("k", undefined as never)],
  ["queryByMetadata: value NaN", (cp) => cp.queryByMetadata("k", NaN)],
  ["queryByMetadata: value a Date", (cp) => cp.queryByMetadata("k", new Date() as never)],
  ["queryByMetadata: limit 0", (cp) => cp.queryByMetadata("k", 1, 0)],
  ["listWithMetadata: limit 0", (cp) => cp.listWithMetadata({ limit: 0 })],
  ["vacuum: no options", (cp) => cp.vacuum(undefined as never)],
  ["vacuum: olderThanDays -1", (cp) => cp.vacuum({ olderThanDays: -1 })],
  ["vacuum: olderThanDays a string", (cp) => cp.vacuum({ olderThanDays: "7" as never })],
  ["vacuum: keepLast 1.5", (cp) => cp.vacuum({ olderThanDays: 1, keepLast: 1.5 })],
  ["copyThread: onto itself", (cp) => cp.copyThread("wrong", "wrong")],
  ["copyThread: source a number", (cp) => cp.copyThread(1 as never, "wrong")],
  ["search: empty", (cp) => cp.search("")],
  ["search: blank", (cp) => cp.search(" \t\n")],
  ["search: a number", (cp) => cp.search(42 as never)],
  ["search: 1,001 characters", (cp) => cp.search("x".repeat(1001))],
  ["search: limit 0", (cp) => cp.search("x", 0)],
];

/** Calls with a string that is not valid Unicode: each must be INVALID_INPUT. */
const invalidUnicodeCalls = (bad: string): [string, Call][] => [
  ["save: thread id", (cp) => cp.save(state("x"), bad)],
  ["save: checkpoint id", (cp) => cp.save(state("x"), "wrong", { checkpointId: bad })],
  ["save: metadata key", (cp) => cp.save(state("x"), "wrong", { metadata: { [bad]: 1 } })],
  ["save: metadata value", (cp) => cp.save(state("x"), "wrong", { metadata: { k: bad } })],
  ["load", (cp) => cp.load(bad)],
  ["exists", (cp) => cp.exists(bad)],
  ["getMetadata", (cp) => cp.getMetadata("wrong", bad)],
  ["listCheckpoints", (cp) => cp.listCheckpoints(bad)],
  ["delete", (cp) => cp.delete(bad)],
  ["listThreads: prefix", (cp) => cp.listThreads({ prefix: bad })],
  ["listThreads: cursor", (cp) => cp.listThreads({ cursor: bad })],
  ["queryByMetadata: key", (cp) => cp.queryByMetadata(bad, 1)],
  ["queryByMetadata: value", (cp) => cp.queryByMetadata("k", bad)],
  ["search", (cp) => cp.search(bad)],
  ["copyThread: destination", (cp) => cp.copyThread("wrong", bad)],
];

const show = (s: string) => JSON.stringify(s);

/** Every table of the database as SHOW CREATE TABLE prints it, in name order. */
async function schemaOf(admin: mysql.Connection, database: string): Promise<string[]> {
  const [tables] = await admin.query<mysql.RowDataPacket[]>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name",
    [database],
  );
  const ddl: string[] = [];
  for (const { name } of tables) {
    const [[row]] = await admin.query<mysql.RowDataPacket[]>(`SHOW CREATE TABLE \`${database}\`.\`${name}\``);
    ddl.push(String(row!["Create Table"]));
  }
  return ddl;
}

export function badInput(report: ReliabilityReport): void {
  const rootUrl = inject("mysqlUrl");
  describe.skipIf(!rootUrl)("4. bad input over HTTP and the module", () => {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    let admin: mysql.Connection;
    let app: FaultApp;
    let cp: MySQLCheckpointer<AgentState>;
    beforeAll(async () => {
      db = await freshDatabase(rootUrl!, "fault_input");
      admin = await mysql.createConnection(rootUrl!);
      app = await startApp({ MYSQL_URL: db.url, API_KEYS: `${KEY_A},${KEY_B}` });
      cp = mysqlCheckpointer<AgentState>(db.url);
      await cp.backend.ensureSchema();
    });
    afterAll(async () => {
      await cp?.close();
      await admin?.end();
      await db?.drop();
    });

    it("answers 4xx JSON errors or typed CheckpointerErrors, stores hostile strings literally, and leaves schema and data intact", async () => {
      const schemaBefore = await schemaOf(admin, db.name);
      const violations: string[] = [];
      /** Stored thread id → the first user message it must hold. */
      const legitimate = new Map<string, string>();
      const [tenantA, tenantB] = [tenantOfKey(KEY_A), tenantOfKey(KEY_B)];
      let requests = 0;
      let calls = 0;

      /** One request as key A (or `key`); the answer must be `expected`, and any 4xx must be a JSON error. */
      const http = async (label: string, method: string, path: string, expected: number, options: { body?: string | Buffer; type?: string; key?: string; headers?: Record<string, string> } = {}) => {
        requests++;
        const response = await fetch(app.url + path, {
          method,
          headers: { authorization: `Bearer ${options.key ?? KEY_A}`, ...(options.type && { "content-type": options.type }), ...options.headers },
          // A Buffer body gets no default content type.
          ...(options.body !== undefined && { body: options.type ? options.body : Buffer.from(options.body) }),
        });
        const text = await response.text();
        const body = text && response.headers.get("content-type")?.startsWith("application/json") ? JSON.parse(text) : text;
        if (response.status !== expected) violations.push(`${label}: ${method} ${path.slice(0, 80)} answered ${response.status}, expected ${expected}: ${text.slice(0, 200)}`);
        if (response.status >= 400 && !(typeof body?.error?.code === "string" && typeof body.error.message === "string")) {
          violations.push(`${label}: ${response.status} without a JSON error: ${text.slice(0, 200)}`);
        }
        return body;
      };
      const json = (value: unknown) => ({ body: JSON.stringify(value), type: "application/json" });
      const threadPath = (id: string, suffix = "") => `/threads/${encodeURIComponent(id)}${suffix}`;
      const listed = async (label: string, prefix: string, key?: string) =>
        ((await http(label, "GET", `/threads?limit=100&prefix=${encodeURIComponent(prefix)}`, 200, { ...(key && { key }) })).threads ?? []).map(
          (t: { threadId: string }) => t.threadId,
        ) as string[];

      // Tenant B's only thread: B must never see anything else.
      await http("B's own thread", "POST", threadPath("b-thread", "/messages"), 200, { key: KEY_B, ...json({ content: "b" }) });
      legitimate.set(`${tenantB}:b-thread`, "b");

      // HTTP: hostile but valid strings as thread ids, messages, prefixes and fork targets.
      for (const s of HOSTILE) {
        const label = `HTTP ${show(s)}`;
        const sent = await http(label, "POST", threadPath(s, "/messages"), 200, json({ content: `say ${s}` }));
        if (sent.threadId !== s) violations.push(`${label}: answered for thread ${show(sent.threadId)}`);
        legitimate.set(`${tenantA}:${s}`, `say ${s}`);
        const read = await http(label, "GET", threadPath(s), 200);
        if (read.messages?.[0]?.content !== `say ${s}`) violations.push(`${label}: read back ${show(read.messages?.[0]?.content)}`);
        const mine = await listed(label, s);
        if (!mine.includes(s) || mine.some((id) => !id.startsWith(s))) violations.push(`${label}: prefix listing gave ${show(mine.join(" | "))}`);
        const theirs = await listed(label, s, KEY_B);
        if (!isDeepStrictEqual(theirs, ["b-thread"].filter((id) => id.startsWith(s)))) violations.push(`${label}: tenant B listed ${show(theirs.join(" | "))}`);
        await http(label, "GET", threadPath(s), 404, { key: KEY_B });
        await http(label, "DELETE", threadPath(s), 404, { key: KEY_B });
        await http(label, "POST", threadPath(s, "/fork"), 404, { key: KEY_B, ...json({ to: "stolen" }) });
        await http(label, "GET", `/threads?limit=${encodeURIComponent(s)}`, 400);
        await http(label, "GET", threadPath(s, `/checkpoints?limit=${encodeURIComponent(s)}`), 400);
        await http(label, "POST", threadPath(s, "/fork"), 201, json({ to: `${s} (fork)` }));
        await http(label, "DELETE", threadPath(`${s} (fork)`), 204);
      }

      // Tenant B, listing with tenant A's storage prefix, sees nothing of A's.
      for (const prefix of ["", tenantA, `${tenantA}:`, `${tenantA}:%`]) {
        const theirs = await listed(`HTTP B's listing with prefix ${show(prefix)}`, prefix, KEY_B);
        if (!isDeepStrictEqual(theirs, ["b-thread"].filter((id) => id.startsWith(prefix)))) violations.push(`tenant B listed ${show(theirs.join(" | "))}`);
      }

      // HTTP: strings that are not valid Unicode, and paths that are not valid percent-encoding.
      for (const bad of INVALID_UTF16) {
        const label = `HTTP invalid Unicode ${show(bad)}`;
        await http(label, "POST", threadPath("utf16", "/messages"), 400, json({ content: bad }));
        await http(label, "POST", threadPath("b-thread", "/fork"), 400, { key: KEY_B, ...json({ to: bad }) });
      }
      for (const segment of BAD_PATH_SEGMENTS) {
        await http(`HTTP path ${segment}`, "GET", `/threads/${segment}`, 400);
        await http(`HTTP path ${segment}`, "POST", `/threads/${segment}/messages`, 400, json({ content: "x" }));
      }
      // Invalid UTF-8 in a body is decoded to U+FFFD: valid text, stored as such.
      await http("HTTP invalid UTF-8 body", "POST", threadPath("utf8", "/messages"), 200, {
        body: Buffer.concat([Buffer.from('{"content":"'), Buffer.from([0xff, 0xfe, 0xc0]), Buffer.from('"}')]),
        type: "application/json",
      });
      legitimate.set(`${tenantA}:utf8`, "\ufffd\ufffd\ufffd");

      // HTTP: malformed and wrong-typed bodies, huge bodies, over-long ids, bad queries, other methods.
      for (const [label, body, type, expected] of BAD_BODIES) {
        await http(`HTTP body: ${label}`, "POST", threadPath("malformed", "/messages"), expected, { body, ...(type && { type }) });
      }
      for (const body of BAD_FORK_BODIES) await http(`HTTP fork body ${JSON.stringify(body).slice(0, 40)}`, "POST", threadPath("b-thread", "/fork"), 400, { key: KEY_B, ...json(body) });
      for (const query of BAD_QUERIES) await http(`HTTP query ${query.slice(0, 40)}`, "GET", `/threads?${query}`, 400);
      for (const length of [239, 1_000, 5_000]) await http(`HTTP thread id of ${length}`, "POST", threadPath("x".repeat(length), "/messages"), 400, json({ content: "x" }));
      // A method a known path does not take: 405 with Allow (issue 13).
      await http("HTTP PUT", "PUT", threadPath("b-thread"), 405, { key: KEY_B });
      await http("HTTP PATCH", "PATCH", threadPath("b-thread"), 405, { key: KEY_B });

      // HTTP: keys that are not quite keys.
      const forgedKeys: Record<string, string>[] = [
        { authorization: "Bearer ' OR '1'='1" },
        { authorization: `Bearer ${"k".repeat(8_000)}` },
        { authorization: `Bearer ${KEY_A}x` },
        { authorization: `Bearer ${KEY_A.toUpperCase()}` },
        { authorization: "Bearer" },
        { authorization: `Basic ${Buffer.from(`${KEY_A}:`).toString("base64")}` },
        { authorization: "", "x-api-key": "' OR 1=1 -- " },
        { authorization: `Bearer ${KEY_A}`, "x-api-key": KEY_B },
      ];
      for (const headers of forgedKeys) {
        await http(`HTTP key ${JSON.stringify(headers).slice(0, 60)}`, "GET", "/threads", 401, { headers });
      }

      // The module: hostile strings as thread ids, metadata keys and values, prefixes, search queries.
      const attempt = async (label: string, call: () => Promise<unknown>): Promise<unknown> => {
        calls++;
        try {
          return await call();
        } catch (error) {
          violations.push(`module ${label}: threw ${isCheckpointerError(error) ? `${error.code}: ` : "an untyped "}${(error as Error).message}`);
          return undefined;
        }
      };
      for (const s of HOSTILE) {
        const label = show(s);
        const checkpointId = await attempt(`${label} save`, () => cp.save(state(s), s, { metadata: { [s]: s, probe: s } }));
        legitimate.set(s, s);
        const checks: [string, () => Promise<boolean>][] = [
          ["load", async () => isDeepStrictEqual(await cp.load(s), state(s))],
          ["exists", async () => await cp.exists(s)],
          ["listCheckpoints", async () => isDeepStrictEqual(await cp.listCheckpoints(s), [checkpointId])],
          ["getMetadata", async () => (await cp.getMetadata(s))?.metadata[s] === s],
          ["listThreads prefix", async () => ((ids) => ids.includes(s) && ids.every((id) => id.startsWith(s)))(await cp.listThreads({ prefix: s, limit: 10_000 }))],
          ["queryByMetadata key", async () => isDeepStrictEqual((await cp.queryByMetadata(s, s)).map((t) => t.threadId), [s])],
          ["queryByMetadata value", async () => isDeepStrictEqual((await cp.queryByMetadata("probe", s)).map((t) => t.threadId), [s])],
          ["copyThread", async () => await cp.copyThread(s, `${s}#copy`)],
          ["delete the copy", async () => await cp.delete(`${s}#copy`)],
          ["delete a checkpoint named like it", async () => !(await cp.delete(s, s))],
        ];
        for (const [what, check] of checks) if ((await attempt(`${label} ${what}`, check)) === false) violations.push(`module ${label} ${what}: wrong result`);
        // Any answer is fine, as long as it is hits of stored threads or a typed refusal (a blank query).
        calls++;
        await cp.search(s).then(
          (hits) => hits.every((h) => legitimate.has(h.threadId)) || violations.push(`module ${label} search: a hit outside the stored threads`),
          (error: unknown) => isCheckpointerError(error, "INVALID_INPUT") || violations.push(`module ${label} search: threw ${String(error)}`),
        );
      }

      // The module: wrong types and values, and strings that are not valid Unicode.
      const refusals = [...WRONG_CALLS, ...INVALID_UTF16.flatMap((bad) => invalidUnicodeCalls(bad).map(([label, call]): [string, Call] => [`${label} ${show(bad)}`, call]))];
      for (const [label, call] of refusals) {
        calls++;
        const outcome = await call(cp).then(
          () => "resolved",
          (error: unknown) => (isCheckpointerError(error) ? null : `threw an untyped ${String(error)}`),
        );
        if (outcome) violations.push(`module ${label}: ${outcome}`);
      }

      expect(violations).toEqual([]);
      expect(app.alive()).toBe(true);

      // Afterwards: the same schema, and exactly the legitimate writes, each holding what was sent.
      expect(await schemaOf(admin, db.name)).toEqual(schemaBefore);
      const [rows] = await admin.query<mysql.RowDataPacket[]>(
        `SELECT t.thread_id AS id, COUNT(c.seq) AS checkpoints FROM \`${db.name}\`.cp_threads t
         LEFT JOIN \`${db.name}\`.cp_checkpoints c ON c.thread_id = t.thread_id GROUP BY t.thread_id`,
      );
      expect(new Map(rows.map((r) => [r.id as string, Number(r.checkpoints)]))).toEqual(new Map([...legitimate.keys()].map((id) => [id, 1])));
      const [[orphans]] = await admin.query<mysql.RowDataPacket[]>(
        `SELECT COUNT(*) AS n FROM \`${db.name}\`.cp_checkpoints c LEFT JOIN \`${db.name}\`.cp_threads t USING (thread_id) WHERE t.thread_id IS NULL`,
      );
      expect(orphans!.n).toBe(0);
      for (const [id, first] of legitimate) expect((await cp.load(id))?.messages[0]?.content, id).toBe(first);

      report.record(4, {
        title: "Bad input over HTTP and the module's public functions",
        facts: [
          `${INJECTION_STRINGS.length} injection strings (SQL, LIKE wildcards and the ESCAPE character, quotes, JSON paths, path traversal, ` +
            `template and script injection) and ${CONTROL_STRINGS.length} control-character and unusual Unicode strings, each used as a thread ` +
            `id, message, listing prefix and fork target over HTTP (with API keys: tenant B probing tenant A's threads) and as a thread id, ` +
            `metadata key and value, prefix and search query of the module: all stored and matched literally.`,
          `${INVALID_UTF16.length} strings that are not valid Unicode, ${BAD_PATH_SEGMENTS.length} paths that are not valid percent-encoding, ` +
            `${BAD_BODIES.length} malformed, wrong-typed or huge bodies (up to 8 MB), ${BAD_FORK_BODIES.length} bad fork targets, ` +
            `${BAD_QUERIES.length} bad queries, ids of 239 to 5,000 characters and ${forgedKeys.length} forged API keys: all 4xx JSON errors.`,
          `${requests} HTTP requests and ${calls} module calls in all; no 5xx, no untyped error (${WRONG_CALLS.length} wrong-typed ` +
            `calls plus ${INVALID_UTF16.length * invalidUnicodeCalls("").length} with invalid Unicode, each a CheckpointerError).`,
          `Afterwards SHOW CREATE TABLE of all ${schemaBefore.length} tables was unchanged, and the database held exactly the ` +
            `${legitimate.size} legitimate threads, one checkpoint each, each holding the text that was sent.`,
        ],
      });
    }, 120_000);

  });
}
