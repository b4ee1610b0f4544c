// The README's "Copying the module into your app", run as written, in the order written, in a
// folder that has only package.json (`npm init -y`, beside the template as `my-agent`): without
// LangGraph and with it. The steps, the example and the build command are read from README.md;
// nothing here repeats them. The copied folder then type-checks under every strict flag
// `tsc --init` turns on, in a CommonJS and in an ES module package, and runs.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeEach, describe, expect, inject, it } from "vitest";
import { freshDatabase } from "./support/databases.js";
import { REPO } from "./app/support/app-process.js";

const run = promisify(execFile);
const rootUrl = inject("mysqlUrl");

/** The README's section, its code blocks in order. */
function readmeSection(): { steps: string; choice: string; example: string; build: string } {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const start = readme.indexOf("## Copying the module into your app");
  if (start < 0) throw new Error('README.md has no "## Copying the module into your app" section');
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const blocks = [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map(([, lang, body]) => ({ lang: lang!, body: body! }));
  expect(blocks.map((b) => b.lang), "the section's code blocks: steps, the LangGraph choice, the example, the build").toEqual(["sh", "sh", "ts", "sh"]);
  return { steps: blocks[0]!.body, choice: blocks[1]!.body, example: blocks[2]!.body, build: blocks[3]!.body };
}

/** One line of the LangGraph choice block, picked by what it does. */
function choiceLine(choice: string, pattern: RegExp): string {
  const lines = choice.split("\n").filter((line) => pattern.test(line));
  expect(lines, `one line of the README's LangGraph choice matches ${pattern}`).toHaveLength(1);
  return lines[0]!;
}

/** A program of our own beside the README's: the memory store, a typed error, and MySQL when there is one. */
const PROGRAM = `import { getCheckpointer, MemoryCheckpointer, CheckpointerError } from "./checkpointer/index.js";

interface State { messages: { role: string; content: string }[] }

const memory = new MemoryCheckpointer<State>();
await memory.save({ messages: [{ role: "user", content: "in memory" }] }, "t1");
const out: Record<string, unknown> = { memory: (await memory.load("t1"))?.messages[0]?.content };
try {
  await memory.save({ messages: [] }, "");
} catch (error) {
  out.invalid = error instanceof CheckpointerError ? error.code : "untyped";
}
if (process.env.MYSQL_URL) {
  const mysql = getCheckpointer<State>("mysql");
  const id = await mysql.save({ messages: [{ role: "user", content: "in mysql" }] }, "t1", { metadata: { copied: true } });
  out.mysql = (await mysql.load("t1", id))?.messages[0]?.content;
  out.query = (await mysql.queryByMetadata("copied", true)).map((s) => s.threadId);
  await mysql.close();
}
console.log(JSON.stringify(out));
`;

/** What the README's example stored, read back through the copied module (run in src/). */
const CHECK_README_THREAD = `
import { getCheckpointer } from "./checkpointer/index.js";
const cp = getCheckpointer(process.env.MYSQL_URL ? "mysql" : "sqlite:../data/checkpoints.db");
const info = await cp.getMetadata("user-42");
console.log(JSON.stringify({
  checkpoints: (await cp.listCheckpoints("user-42")).length,
  messages: (await cp.load("user-42")).messages.length,
  metadata: info.metadata,
}));
await cp.close();
`;

const lastLine = (stdout: string): unknown => JSON.parse(stdout.trim().split("\n").at(-1)!);

/** A folder beside the template (`my-agent`, the checkout) holding `my-app` with only package.json. */
async function freshApp(): Promise<{ root: string; app: string }> {
  const root = await mkdtemp(join(tmpdir(), "copied-module-"));
  await symlink(REPO, join(root, "my-agent"));
  const app = join(root, "my-app");
  await mkdir(app);
  await run("npm", ["init", "-y"], { cwd: app });
  return { root, app };
}

describe("README: copying the module into an app that has only package.json", () => {
  const readme = readmeSection();
  /** The database of the running test (each test has its own), when there is a MySQL server. */
  let db: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  const folders: string[] = [];
  const databases: { drop: () => Promise<void> }[] = [];

  beforeEach(async () => {
    db = rootUrl ? await freshDatabase(rootUrl, "copy") : undefined;
    if (db) databases.push(db);
  });
  afterAll(async () => {
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
    for (const database of databases) await database.drop();
  });

  /** The environment the commands run in: the test's, without its MySQL settings, plus `extra`. */
  const env = (extra: Record<string, string> = {}) => {
    const base: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (value !== undefined && !/^MYSQL_/.test(name) && name !== "NODE_OPTIONS") base[name] = value;
    }
    // From npm's cache where it can: the commands stay as written, npm asks the registry less.
    return { ...base, npm_config_prefer_offline: "true", npm_config_audit: "false", npm_config_fund: "false", ...extra };
  };
  const sh = (script: string, cwd: string, extra: Record<string, string> = {}) =>
    run("bash", ["-euo", "pipefail", "-c", script], { cwd, env: env(extra), maxBuffer: 16 * 1024 * 1024 });
  const mysqlEnv = (): Record<string, string> => (db ? { MYSQL_URL: db.url } : {});

  it("without LangGraph: the steps as written, then the README's example compiles and runs, twice", { timeout: 300_000 }, async () => {
    const { root, app } = await freshApp();
    folders.push(root);
    expect(JSON.parse(await readFile(join(app, "package.json"), "utf8")).type).toBe("commonjs");

    await sh(readme.steps, app);
    await sh(choiceLine(readme.choice, /^rm -r /), app);
    expect(existsSync(join(app, "src/checkpointer/langgraph"))).toBe(false);
    const installed = JSON.parse(await readFile(join(app, "package.json"), "utf8"));
    expect(Object.keys(installed.dependencies)).toEqual(["mysql2"]);
    expect(Object.keys(installed.devDependencies).sort()).toEqual(["@types/node", "typescript"]);
    const tsconfig = await readFile(join(app, "tsconfig.json"), "utf8");
    for (const flag of ["strict", "exactOptionalPropertyTypes", "noUncheckedIndexedAccess", "verbatimModuleSyntax", "isolatedModules"]) {
      expect(tsconfig).toMatch(new RegExp(`^\\s*"${flag}": true`, "m"));
    }

    await writeFile(join(app, "src/agent.mts"), readme.example);
    const first = await sh(readme.build, app, mysqlEnv());
    expect(first.stdout.trim()).toBe("messages in user-42: 1");
    // Again: the second turn loads the first and saves on top of it (compare-and-set).
    const second = await sh("node src/agent.mjs", app, mysqlEnv());
    expect(second.stdout.trim()).toBe("messages in user-42: 2");
    const check = await run(process.execPath, ["--input-type=module", "-e", CHECK_README_THREAD], { cwd: join(app, "src"), env: env(mysqlEnv()) });
    expect(JSON.parse(check.stdout)).toEqual({ checkpoints: 2, messages: 2, metadata: { agent: "support", user: "42" } });
    if (!db) {
      expect(existsSync(join(app, "data/checkpoints.db"))).toBe(true);
      console.warn(`module copy: the MySQL part skipped (${inject("mysqlSkipReason")})`);
    }

    // A program of our own in the same CommonJS package (a .mts file)...
    await writeFile(join(app, "src/main.mts"), PROGRAM);
    await sh("npx tsc", app);
    const expected = { memory: "in memory", invalid: "INVALID_INPUT", ...(db && { mysql: "in mysql", query: ["t1"] }) };
    expect(lastLine((await sh("node src/main.mjs", app, mysqlEnv())).stdout)).toEqual(expected);
    // ...and in an ES module package, where plain .ts files are modules.
    await sh("npm pkg set type=module", app);
    await writeFile(join(app, "src/app.ts"), PROGRAM);
    await sh("npx tsc", app);
    expect(lastLine((await sh("node src/app.js", app, mysqlEnv())).stdout)).toEqual(expected);
  });

  it("with LangGraph: the steps as written, then the README's example and docs/langgraph.md's compile and run", { timeout: 300_000 }, async () => {
    const { root, app } = await freshApp();
    folders.push(root);
    await sh(readme.steps, app);
    await sh(choiceLine(readme.choice, /^npm install @langchain\//), app);
    expect(existsSync(join(app, "src/checkpointer/langgraph/index.ts"))).toBe(true);

    await writeFile(join(app, "src/agent.mts"), readme.example);
    const docs = await readFile(join(REPO, "docs/langgraph.md"), "utf8");
    const graph = /```ts\n([\s\S]*?)```/.exec(docs)?.[1];
    if (!graph) throw new Error("docs/langgraph.md has no TypeScript example");
    await writeFile(join(app, "src/graph.mts"), graph);
    // The build command compiles everything, langgraph/ and the graph included.
    const built = await sh(readme.build, app, mysqlEnv());
    expect(built.stdout.trim()).toBe("messages in user-42: 1");
    if (!db) return console.warn(`module copy: the LangGraph run skipped (${inject("mysqlSkipReason")})`);

    // The graph stops at interrupt(), then resumes: both steps stored through MySQLSaver.
    await sh("node src/graph.mjs", app, mysqlEnv());
    const count = await run(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import mysql from "mysql2/promise";
const c = await mysql.createConnection(process.env.MYSQL_URL);
const [rows] = await c.query("SELECT COUNT(*) AS n FROM cp_lg_checkpoints WHERE thread_id = 'order-42'");
console.log(rows[0].n);
await c.end();`,
      ],
      { cwd: app, env: env(mysqlEnv()) },
    );
    expect(Number(count.stdout)).toBeGreaterThanOrEqual(2);
  });
});
