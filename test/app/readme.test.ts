// The README's code blocks, run as they stand: the command that gets a new enough Node, the quick
// start without Docker (`npm install`, `npm start`, and `MYSQL_URL=… npm start` on the server of
// scripts/mysql-local.sh) in a copy of the project, and the HTTP API examples (the README's, then
// docs/api.md's) against the app that `npm start` started. Only the port changes: PORT=0 where
// the README's app listens on 3000, and each URL follows. The Docker commands are checked against
// the ones test/app/compose-stack.test.ts runs on a real engine; the module-copy steps run in
// test/module-copy.test.ts; docs/security.md's API key example runs here, in-process.
import { execFile, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ciSetting, isCI } from "../support/ci.js";
import { REPO, startAppProcess, type AppProcess } from "./support/app-process.js";
import { parseEvents } from "./support/event-stream.js";
import { startTestApp, type TestApp } from "./support/in-process-app.js";

const run = promisify(execFile);
const readme = readFileSync(join(REPO, "README.md"), "utf8");

/** The text of a `## ` section of a Markdown file, up to the next one. */
function section(markdown: string, title: string): string {
  const start = markdown.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`no "## ${title}" section`);
  const end = markdown.indexOf("\n## ", start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

/** The bodies of a text's fenced `sh` blocks, in order. */
const shBlocks = (text: string): string[] => [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);

/** A block's commands: its lines that are neither empty nor comments. */
const commands = (block: string): string[] => block.split("\n").filter((line) => line.trim() !== "" && !line.trimStart().startsWith("#"));

/** Where the README's examples talk to the app, and the app they run against. */
const README_URL = "http://localhost:3000";

/**
 * The environment the README's commands run in: the test's own (npm's settings, a CA file, a
 * proxy), without what would choose the app's store, port or model for it, plus `extra`.
 */
function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  const chosenByTest = /^(MYSQL_|OPENAI_|VITEST|NODE_ENV$|NODE_OPTIONS$|PORT$|HOST$|DATA_DIR$|API_KEYS$|MODEL$|LOG_LEVEL$)/;
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && !chosenByTest.test(name)) env[name] = value;
  return { ...env, ...extra };
}

/** A copy of what a clone holds that the quick start uses, without node_modules, data or .env. */
function copyProject(): string {
  const dir = mkdtempSync(join(tmpdir(), "readme-quick-start-"));
  for (const entry of ["package.json", "package-lock.json", "tsconfig.json", "app", "checkpointer", "scripts"]) {
    cpSync(join(REPO, entry), join(dir, entry), { recursive: true });
  }
  return dir;
}

/** Runs a README command line in its own process group, as a terminal would, until the app listens. */
const startCommand = (line: string, cwd: string, extra: Record<string, string> = {}) =>
  startAppProcess("bash", ["-c", line], { cwd, env: userEnv({ PORT: "0", ...extra }), detached: true });

/** Ctrl-C, as a terminal sends it: SIGINT to the whole group; resolves once the app shut down cleanly. */
async function stopCommand(app: AppProcess): Promise<void> {
  try {
    process.kill(-app.child.pid!, "SIGINT");
  } catch {
    // already gone
  }
  await app.exited;
  await vi.waitFor(() => expect(app.output()).toMatch(/"clean":true,"msg":"shutdown complete"/), { timeout: 15_000 });
}

/** Runs curl command lines in order against `url`; `--fail` makes an HTTP error reject. */
async function runCurls(lines: string[], url: string): Promise<string[]> {
  const outputs: string[] = [];
  for (const line of lines) {
    expect(line).toMatch(/^curl /);
    const local = line.replaceAll(README_URL, url);
    outputs.push((await run("bash", ["-c", `${local} --fail --show-error`])).stdout);
  }
  return outputs;
}

const endpoint = (curl: string) => `${/-X (\w+)/.exec(curl)?.[1] ?? "GET"} ${/localhost:3000(\/[^\s'?]*)/.exec(curl)?.[1]}`;

describe("README: the set-up commands", () => {
  const intro = readme.slice(0, readme.indexOf("\n## "));

  it("come first: the stack with Docker, then the tests", () => {
    expect(commands(shBlocks(intro)[0]!).map((line) => line.replace(/\s+#.*$/, ""))).toEqual([
      "cp .env.example .env && docker compose up",
      "npm install && npm test",
    ]);
    const packageJson = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"));
    expect(packageJson.scripts.test).toBe("vitest run");
    // What CI runs is what the README offers: npm test.
    expect(readFileSync(join(REPO, ".ci/run"), "utf8")).toMatch(/^npm test\b/m);
  });

  it("has every docker compose command of the README and docs/operations.md run by test/app/compose-stack.test.ts", () => {
    const operations = readFileSync(join(REPO, "docs/operations.md"), "utf8");
    const typed = [readme, operations].flatMap((text) => [
      ...shBlocks(text).flatMap(commands),
      ...[...text.matchAll(/`([^`\n]*docker compose [^`\n]*)`/g)].map((m) => m[1]!),
    ]);
    const invocations = typed
      .flatMap((line) => [...line.matchAll(/docker compose ((?:[\w=.-]+ ?)+)/g)].map((m) => m[1]!.trim().split(/\s+/)))
      .filter((args) => args[0] === "up" || args[0] === "down");
    expect(invocations.map((args) => args.join(" ")).sort()).toEqual(
      ["down", "down -v", "up", "up", "up", "up --scale app=3"].sort(),
    );
    // The stack test's calls: compose(["up", "-d", …]) and so on.
    const stack = readFileSync(join(REPO, "test/app/compose-stack.test.ts"), "utf8");
    const calls = [...stack.matchAll(/compose\(\[([^\]]*)\]/g)].map((m) => [...m[1]!.matchAll(/"([^"]*)"/g)].map((q) => q[1]!));
    for (const args of invocations) {
      expect(calls.some((call) => call[0] === args[0] && args.every((arg) => call.includes(arg))), `compose-stack.test.ts runs docker compose ${args.join(" ")}`).toBe(true);
    }
    // And the stack test writes .env as the README says: a copy of .env.example, passwords changed.
    expect(stack).toContain('readFileSync(join(dir, ".env.example"), "utf8")');
  });
});

describe("README: quick start without Docker, as written", () => {
  const quickStart = section(readme, "Quick start without Docker");
  const [nodeBlock, startBlock, mysqlBlock] = shBlocks(quickStart);
  let dir: string;
  beforeAll(() => {
    dir = copyProject();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("has the Node command, npm install and npm start, and MySQL's", () => {
    expect(commands(nodeBlock!)).toHaveLength(1);
    expect(commands(startBlock!).map((line) => line.replace(/\s+#.*$/, ""))).toEqual(["npm install", "npm start"]);
    expect(commands(mysqlBlock!)).toHaveLength(2);
  });

  it("the Node command puts Node 22.13 or later first on PATH, from a shell whose node is older where the machine has one", { timeout: 180_000 }, async () => {
    const system = spawnSync("/usr/bin/node", ["--version"], { encoding: "utf8" });
    const older = system.status === 0 && !atLeast(system.stdout, 22, 13);
    // The system's old Node first, as a user of such a machine has it (the test's own Node otherwise).
    const PATH = older ? `/usr/local/bin:/usr/bin:/bin` : process.env.PATH!;
    const { stdout } = await run("bash", ["-c", `${commands(nodeBlock!)[0]}\nnode --version\nnpm --version`], { env: userEnv({ PATH }) });
    const [version] = stdout.trim().split("\n");
    expect(atLeast(version!, 22, 13), `node --version after the command: ${version}`).toBe(true);
    if (!older) console.warn("README Node command: /usr/bin/node is not older than 22.13 here, so it ran from the test's PATH");
  });

  it("npm install, then npm start: the README's API examples, then docs/api.md's, all succeed in order against it", { timeout: 600_000 }, async () => {
    const [install, start] = commands(startBlock!);
    await run("bash", ["-c", install!], { cwd: dir, env: userEnv({ npm_config_prefer_offline: "true" }), maxBuffer: 64 * 1024 * 1024 });
    const app = await startCommand(start!, dir);
    try {
      expect(app.output()).toContain('"msg":"conversations are stored in SQLite');
      expect(app.output()).toContain(JSON.stringify(join(dir, "data/checkpoints.db")));

      const readmeCurls = commands(shBlocks(section(readme, "The HTTP API"))[0]!);
      const api = readFileSync(join(REPO, "docs/api.md"), "utf8");
      const apiCurls = commands(shBlocks(section(api, "Examples"))[0]!);
      expect([...readmeCurls, ...apiCurls].map(endpoint)).toEqual([
        "POST /threads/user-42/messages",
        "POST /threads/user-42/messages",
        "GET /threads/user-42",
        "GET /search",
        "GET /threads",
        "GET /threads/user-42/checkpoints",
        "POST /threads/user-42/fork",
        "DELETE /threads/user-42-what-if",
        "GET /healthz",
      ]);

      const [sent, streamed, thread, search] = await runCurls(readmeCurls, app.url);
      const json = (output: string | undefined) => JSON.parse(output!);
      expect(json(sent).reply.content).toContain("Alex");
      const events = parseEvents(streamed!);
      expect(events.map((e) => e.event)).toContain("token");
      expect(events.at(-1)).toMatchObject({ event: "done", data: { reply: { content: expect.stringContaining("Sam") } } });
      expect(json(thread).messages).toHaveLength(4);
      expect(json(search).hits).toEqual([expect.objectContaining({ threadId: "user-42", snippet: expect.stringContaining("Alex") })]);

      const [list, checkpoints, fork, deleted, health] = await runCurls(apiCurls, app.url);
      expect(json(list).threads.map((t: { threadId: string }) => t.threadId)).toEqual(["user-42"]);
      expect(json(list).nextCursor).toBeNull();
      const history = json(checkpoints).checkpoints;
      expect(history).toHaveLength(2);
      expect(json(fork)).toEqual({ threadId: "user-42-what-if", checkpointId: history[0].checkpointId, forkedFrom: "user-42" });
      expect(deleted).toBe("");
      expect(json(health)).toEqual({ status: "ok", checkpointer: "sqlite" });
    } finally {
      await stopCommand(app);
    }
  });

  const mysqlUnavailable = ((): string | null => {
    if (process.getuid?.() !== 0) return "scripts/mysql-local.sh start needs root (the README says: as root, or with sudo)";
    const status = spawnSync(join(REPO, "scripts/mysql-local.sh"), ["status"], { encoding: "utf8" });
    if (status.status !== 0) return `scripts/mysql-local.sh is not running here (${status.stdout.trim()}); the test does not start a server of its own`;
    if (!status.stdout.includes("mysql://root@127.0.0.1:3307/agent")) return `scripts/mysql-local.sh runs elsewhere than the README's URL: ${status.stdout.trim()}`;
    return null;
  })();
  if (mysqlUnavailable && isCI()) throw new Error(`${ciSetting()}, yet the README's MySQL quick start cannot run: ${mysqlUnavailable}`);

  it.skipIf(mysqlUnavailable !== null)(
    `scripts/mysql-local.sh start, then MYSQL_URL=… npm start: the app on MySQL${mysqlUnavailable ? ` (skipped: ${mysqlUnavailable})` : ""}`,
    { timeout: 300_000 },
    async () => {
      const [startServer, startApp] = commands(mysqlBlock!);
      // Already running: start says so and prints its URL.
      const started = await run("bash", ["-c", startServer!], { cwd: dir, env: userEnv() });
      expect(started.stdout.trim()).toBe("mysql://root@127.0.0.1:3307/agent");
      // npm install ran in the test before; on its own, this test installs first.
      if (!existsSync(join(dir, "node_modules/tsx"))) await run("npm", ["install", "--prefer-offline"], { cwd: dir, env: userEnv(), maxBuffer: 64 * 1024 * 1024 });
      const app = await startCommand(startApp!, dir);
      try {
        expect(app.output()).toContain('"msg":"conversations are stored in MySQL"');
        await vi.waitFor(() => expect(app.output()).toContain('"msg":"the conversation store answers"'), { timeout: 10_000 });
        expect(await (await fetch(`${app.url}/healthz`)).json()).toEqual({ status: "ok", checkpointer: "mysql" });
      } finally {
        await stopCommand(app);
      }
    },
  );
});

/** Whether a `node --version` (v22.13.0) is at least major.minor. */
function atLeast(version: string, major: number, minor: number): boolean {
  const [a, b] = version.trim().replace(/^v/, "").split(".").map(Number);
  return a! > major || (a === major && b! >= minor);
}

describe("docs/security.md: the API key example", () => {
  const security = readFileSync(join(REPO, "docs/security.md"), "utf8");
  const curls = shBlocks(security).flatMap(commands).filter((line) => line.startsWith("curl "));
  const key = "readme-key-0123456789abcdef";
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ options: { apiKeys: [key] } });
  });
  afterAll(() => app.stop());

  it("works as written with $KEY, and the request without a key prints 401", async () => {
    const outputs: string[] = [];
    for (const command of curls) {
      const { stdout } = await run("bash", ["-c", command.replaceAll(README_URL, app.url)], { env: { ...process.env, KEY: key } });
      outputs.push(stdout);
    }
    expect(outputs).toHaveLength(3);
    expect(JSON.parse(outputs[0]!).reply.content).toContain("Alex");
    expect(JSON.parse(outputs[1]!).threads.map((t: { threadId: string }) => t.threadId)).toEqual(["user-42"]);
    expect(outputs[2]).toBe("401\n");
  });
});
