// The promise of checkpointer/: copy the folder into a project made by `npm init -y` and
// `npx tsc --init` (the README adds only "types": ["node"]) and it type-checks under every strict
// flag tsc --init turns on, in a CommonJS or an ES module package, and runs.
import { execFile } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freshDatabase } from "./support/databases.js";

const run = promisify(execFile);
const rootUrl = inject("mysqlUrl");
const TSC = resolve("node_modules/.bin/tsc");

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

const CHECK_README_THREAD = `
import { getCheckpointer } from "./checkpointer/index.js";
const cp = getCheckpointer("mysql");
const info = await cp.getMetadata("user-42");
console.log(JSON.stringify({
  checkpoints: (await cp.listCheckpoints("user-42")).length,
  messages: (await cp.load("user-42")).messages.length,
  metadata: info.metadata,
}));
await cp.close();
`;

const lastLine = (stdout: string): unknown => JSON.parse(stdout.trim().split("\n").at(-1)!);

/** The first TypeScript block of the README's "Copy it into an existing app" section. */
async function readmeExample(): Promise<string> {
  const readme = await readFile("README.md", "utf8");
  const section = readme.slice(readme.indexOf("### Copy it into an existing app"));
  const block = /```ts\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error("README has no TypeScript example under 'Copy it into an existing app'");
  return block[1]!;
}

describe("checkpointer/ copied into a project made by npm init -y and tsc --init", () => {
  let dir: string;
  let db: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  const lockVersion = async (name: string) => {
    const lock = JSON.parse(await readFile("package-lock.json", "utf8"));
    return `${name}@${lock.packages[`node_modules/${name}`].version as string}`;
  };
  const install = async (...names: string[]) =>
    run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", ...(await Promise.all(names.map(lockVersion)))], { cwd: dir });
  const node = (file: string) => run(process.execPath, [file], { cwd: dir, env: { ...process.env, MYSQL_URL: db?.url ?? "" } });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "copied-module-"));
    if (rootUrl) db = await freshDatabase(rootUrl, "copy");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await db?.drop();
  });

  it("type-checks, compiles and runs with only mysql2, in a CommonJS and in an ESM package", { timeout: 180_000 }, async () => {
    await run("npm", ["init", "-y"], { cwd: dir });
    await run(TSC, ["--init"], { cwd: dir });
    const packageJson = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
    expect(packageJson.type).toBe("commonjs");
    const tsconfig = await readFile(join(dir, "tsconfig.json"), "utf8");
    for (const flag of ["strict", "exactOptionalPropertyTypes", "noUncheckedIndexedAccess", "verbatimModuleSyntax", "isolatedModules"]) {
      expect(tsconfig).toMatch(new RegExp(`^\\s*"${flag}": true`, "m"));
    }
    // The one change the README asks for.
    expect(tsconfig).toContain('"types": [],');
    await writeFile(join(dir, "tsconfig.json"), tsconfig.replace('"types": [],', '"types": ["node"],'));

    // The README: drop langgraph/ when LangGraph is not used.
    await cp("checkpointer", join(dir, "checkpointer"), { recursive: true, filter: (path) => !path.includes("langgraph") });
    await install("mysql2", "typescript", "@types/node");
    const installed = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
    expect(Object.keys(installed.dependencies).sort()).toEqual(["@types/node", "mysql2", "typescript"]);

    // npm init -y's package is CommonJS: an ES module program there is a .mts file.
    await writeFile(join(dir, "main.mts"), PROGRAM);
    await writeFile(join(dir, "readme-example.mts"), await readmeExample());
    await run(TSC, [], { cwd: dir });
    const expected = { memory: "in memory", invalid: "INVALID_INPUT", ...(db && { mysql: "in mysql", query: ["t1"] }) };
    expect(lastLine((await node("main.mjs")).stdout)).toEqual(expected);
    if (!db) console.warn(`module copy: MySQL part skipped (${inject("mysqlSkipReason")})`);

    // The README's example, as printed there: one turn, saved with compare-and-set, twice.
    await node("readme-example.mjs");
    await node("readme-example.mjs");
    if (db) {
      const env = { ...process.env, MYSQL_URL: db.url };
      const { stdout } = await run(process.execPath, ["--input-type=module", "-e", CHECK_README_THREAD], { cwd: dir, env });
      expect(JSON.parse(stdout)).toEqual({ checkpoints: 2, messages: 2, metadata: { agent: "support", user: "42" } });
    }

    // The same project as an ES module package: plain .ts files are modules there.
    await run("npm", ["pkg", "set", "type=module"], { cwd: dir });
    await writeFile(join(dir, "app.ts"), PROGRAM);
    await run(TSC, [], { cwd: dir });
    expect(lastLine((await node("app.js")).stdout)).toEqual(expected);
  });

  it("langgraph/ type-checks with the same config once @langchain/* is installed", { timeout: 180_000 }, async () => {
    await cp("checkpointer/langgraph", join(dir, "checkpointer/langgraph"), { recursive: true });
    await install("@langchain/langgraph-checkpoint", "@langchain/core");
    await writeFile(
      join(dir, "graph.ts"),
      `import { MySQLSaver } from "./checkpointer/langgraph/index.js";\nexport const saver = MySQLSaver.fromConnString("mysql://app@127.0.0.1:3306/agent");\n`,
    );
    await run(TSC, ["--noEmit"], { cwd: dir });
  });
});
