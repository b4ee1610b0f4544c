// The promise of checkpointer/: copy the folder into any TypeScript project that has mysql2,
// and it type-checks and runs. This builds such a project from nothing.
import { execFile } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freshDatabase } from "./support/databases.js";

const run = promisify(execFile);
const rootUrl = inject("mysqlUrl");

const MAIN = `import { getCheckpointer, MemoryCheckpointer, CheckpointerError } from "./checkpointer/index.js";

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
import { getCheckpointer } from "./dist/checkpointer/index.js";
const cp = getCheckpointer("mysql");
const info = await cp.getMetadata("user-42");
console.log(JSON.stringify({
  checkpoints: (await cp.listCheckpoints("user-42")).length,
  messages: (await cp.load("user-42")).messages.length,
  metadata: info.metadata,
}));
await cp.close();
`;

/** The first TypeScript block of the README's "Copy it into an existing app" section. */
async function readmeExample(): Promise<string> {
  const readme = await readFile("README.md", "utf8");
  const section = readme.slice(readme.indexOf("### Copy it into an existing app"));
  const block = /```ts\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error("README has no TypeScript example under 'Copy it into an existing app'");
  return block[1]!;
}

describe("checkpointer/ copied alone into a fresh TypeScript project", () => {
  let dir: string;
  let db: Awaited<ReturnType<typeof freshDatabase>> | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "copied-module-"));
    if (rootUrl) db = await freshDatabase(rootUrl, "copy");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await db?.drop();
  });

  it("type-checks, compiles and runs with only mysql2 installed", { timeout: 180_000 }, async () => {
    const lock = JSON.parse(await readFile("package-lock.json", "utf8"));
    const version = (name: string) => lock.packages[`node_modules/${name}`].version as string;
    await cp("checkpointer", join(dir, "checkpointer"), { recursive: true });
    await writeFile(join(dir, "package.json"), JSON.stringify({ name: "existing-app", private: true, type: "module" }));
    // An older target and library than this project's, as an existing app may have.
    await writeFile(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { target: "ES2022", lib: ["ES2022"], module: "NodeNext", moduleResolution: "NodeNext", strict: true, outDir: "dist", types: ["node"] },
        files: ["main.ts", "readme-example.ts"],
      }),
    );
    await writeFile(join(dir, "main.ts"), MAIN);
    await writeFile(join(dir, "readme-example.ts"), await readmeExample());
    // The runtime dependency is mysql2 alone; typescript and @types/node are the compiler and Node's typings.
    await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", `mysql2@${version("mysql2")}`, `typescript@${version("typescript")}`, `@types/node@${version("@types/node")}`], { cwd: dir });
    const installed = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
    expect(Object.keys(installed.dependencies).sort()).toEqual(["@types/node", "mysql2", "typescript"]);

    await run(join(dir, "node_modules/.bin/tsc"), ["-p", "."], { cwd: dir });
    const env = { ...process.env, MYSQL_URL: db?.url ?? "" };
    const { stdout } = await run(process.execPath, ["dist/main.js"], { cwd: dir, env });
    const out = JSON.parse(stdout.trim().split("\n").at(-1)!);
    expect(out).toMatchObject({ memory: "in memory", invalid: "INVALID_INPUT" });
    if (db) expect(out).toMatchObject({ mysql: "in mysql", query: ["t1"] });
    else console.warn(`module copy: MySQL part skipped (${inject("mysqlSkipReason")})`);

    // The README's example, as printed there: one turn, saved with compare-and-set.
    await run(process.execPath, ["dist/readme-example.js"], { cwd: dir, env });
    await run(process.execPath, ["dist/readme-example.js"], { cwd: dir, env });
    if (db) {
      const { stdout: check } = await run(process.execPath, ["--input-type=module", "-e", CHECK_README_THREAD], { cwd: dir, env });
      expect(JSON.parse(check)).toEqual({ checkpoints: 2, messages: 2, metadata: { agent: "support", user: "42" } });
    }
  });
});
