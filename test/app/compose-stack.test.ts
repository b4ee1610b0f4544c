// The README's Compose promises, on a real Docker engine: `cp .env.example .env && docker compose
// up`, a conversation that outlives `down` and `up`, `--scale app=3` on one thread, a non-root app
// that stops cleanly on SIGTERM, `down -v` deleting every conversation, no password in any log;
// and mysql-init/ under the image's own entrypoint with an unusual database name and an
// executable app-user script. Each step runs `docker compose` as a user types it, in a copy of the
// project. In CI (scripts/local-docker.sh) nothing here may skip.
import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { REPO } from "./support/app-process.js";
import { request, say } from "./support/in-process-app.js";
import { openEvents } from "./support/sse-client.js";
import { freePort } from "../support/free-port.js";
import { ciSetting, isCI } from "../support/ci.js";

const run = promisify(execFile);

/** Why the stack cannot run here, or null when a Docker engine and Compose v2 answer. */
function composeUnavailable(): string | null {
  if (!inject("dockerAvailable")) return "no Docker engine answers (eval \"$(scripts/local-docker.sh start)\" starts one)";
  const version = spawnSync("docker", ["compose", "version", "--short"], { encoding: "utf8" });
  if (version.status !== 0) return `Docker answers but \`docker compose\` (v2) does not: ${(version.stderr || String(version.error)).trim()}`;
  return null;
}

const unavailable = composeUnavailable();
if (unavailable && isCI()) throw new Error(`${ciSetting()}, yet the Compose stack cannot run: ${unavailable}`);
if (unavailable) console.warn(`[compose] skipping the Docker stack test: ${unavailable}`);

// Where containers have no outbound network (the private engine of scripts/local-docker.sh), the
// image's `npm ci` needs the host's: a test-only override, never in the shipped compose file.
const BUILD_OVERRIDE = join(REPO, "test/app/support/compose.build-network-host.yml");
const GRACE_SECONDS = 10;

/** A copy of what the Compose build and the mysql service read, as a clone has it. */
function copyProject(): string {
  const dir = mkdtempSync(join(tmpdir(), "stack-"));
  for (const entry of ["docker-compose.yml", "Dockerfile", ".dockerignore", ".env.example", "package.json", "package-lock.json",
    "tsconfig.json", "tsconfig.build.json", "app", "checkpointer", "mysql-init"]) {
    cpSync(join(REPO, entry), join(dir, entry), { recursive: true });
  }
  return dir;
}

/** `docker compose …` in a project copy, under its own project name; rejects with its output on failure. */
function composeIn(dir: string, project: string) {
  return async (args: string[], env: Record<string, string> = {}) => {
    const started = Date.now();
    try {
      const { stdout, stderr } = await run("docker", ["compose", "-p", project, "-f", "docker-compose.yml", "-f", BUILD_OVERRIDE, ...args], {
        cwd: dir,
        env: { ...process.env, ...env },
        maxBuffer: 64 * 1024 * 1024,
      });
      return { stdout, stderr, seconds: (Date.now() - started) / 1000 };
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      throw new Error(`docker compose ${args.join(" ")} failed:\n${stderr ?? ""}\n${stdout ?? ""}`.slice(-8000));
    }
  };
}

/** `docker compose down -v` and the project copy gone, whatever the tests left running. */
async function removeStack(dir: string | undefined, compose: ReturnType<typeof composeIn> | undefined) {
  if (!dir || !compose) return;
  await compose(["down", "-v", "--timeout", "5"]).catch((error: unknown) => console.warn(String(error)));
  rmSync(dir, { recursive: true, force: true });
}

/** `.env` as the README says: copied from .env.example, with both passwords changed. */
function writeEnv(dir: string, values: Record<string, string>) {
  let env = readFileSync(join(dir, ".env.example"), "utf8");
  for (const [name, value] of Object.entries(values)) env = env.replace(new RegExp(`^${name}=.*$`, "m"), `${name}=${value}`);
  writeFileSync(join(dir, ".env"), env);
}

/** Three consecutive free host ports, for APP_PORT=N-(N+2). */
async function freePortRange(): Promise<number> {
  for (;;) {
    const base = await freePort();
    const next = [await isFree(base + 1), await isFree(base + 2)];
    if (next.every(Boolean)) return base;
  }
}
async function isFree(port: number): Promise<boolean> {
  const { createServer } = await import("node:net");
  const server = createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

const messages = async (url: string, thread: string) =>
  ((await request(url, "GET", `/threads/${thread}`)).body.messages as { content: string }[]).map((m) => m.content);

describe.skipIf(unavailable !== null)("the Compose stack on a Docker engine", () => {
  const project = `agent-stack-${randomBytes(3).toString("hex")}`;
  const passwords = { root: `root-${randomBytes(12).toString("hex")}`, app: `app-${randomBytes(12).toString("hex")}` };
  let dir: string | undefined;
  let compose: ReturnType<typeof composeIn>;
  let port: number;
  const url = () => `http://127.0.0.1:${port}`;

  beforeAll(async () => {
    dir = copyProject();
    compose = composeIn(dir, project);
    port = await freePort();
    writeEnv(dir, { MYSQL_ROOT_PASSWORD: passwords.root, APP_DB_PASSWORD: passwords.app, APP_PORT: String(port) });
    // The image, cold in CI: timed apart from `up` so the README can say what each costs.
    const build = await compose(["build", "app"]);
    console.log(`[compose] docker compose build app: ${build.seconds.toFixed(0)} s`);
  }, 1_200_000);

  afterAll(() => removeStack(dir, compose), 120_000);

  it("docker compose up: both services healthy, and a conversation survives down and up", async () => {
    const up = await compose(["up", "-d", "--wait", "--wait-timeout", "300"]);
    console.log(`[compose] docker compose up (first start, MySQL init): ${up.seconds.toFixed(0)} s`);
    const ps = JSON.parse(`[${(await compose(["ps", "--format", "json"])).stdout.trim().split("\n").join(",")}]`) as { Service: string; Health: string }[];
    expect(ps.map((c) => [c.Service, c.Health]).sort()).toEqual([["app", "healthy"], ["mysql", "healthy"]]);

    const hello = await say(url(), "alex", "My name is Alex");
    expect(hello.status).toBe(200);
    await compose(["down"]);
    await compose(["up", "-d", "--wait", "--wait-timeout", "300"]);
    const who = await say(url(), "alex", "Who am I?");
    expect(who.status).toBe(200);
    expect(who.body.reply.content).toContain("Alex");
    expect(await messages(url(), "alex")).toEqual(["My name is Alex", hello.body.reply.content, "Who am I?", who.body.reply.content]);
  }, 900_000);

  it("APP_PORT=N-(N+2) docker compose up --scale app=3: a turn through each replica, all kept on one thread; a stream dropped on one replica resumes on another", async () => {
    const base = await freePortRange();
    await compose(["up", "-d", "--wait", "--wait-timeout", "300", "--scale", "app=3"], { APP_PORT: `${base}-${base + 2}` });
    const ports: number[] = [];
    for (const index of [1, 2, 3]) {
      const { stdout } = await compose(["port", "--index", String(index), "app", "3000"], { APP_PORT: `${base}-${base + 2}` });
      ports.push(Number(stdout.trim().split(":").pop()));
    }
    expect(new Set(ports).size).toBe(3);
    const sent: string[] = [];
    for (const [i, replicaPort] of ports.entries()) {
      const text = `Turn ${i + 1} through replica ${i + 1}`;
      const turn = await say(`http://127.0.0.1:${replicaPort}`, "scaled", text);
      expect(turn.status).toBe(200);
      sent.push(text, turn.body.reply.content);
    }
    for (const replicaPort of ports) expect(await messages(`http://127.0.0.1:${replicaPort}`, "scaled")).toEqual(sent);

    // A streamed turn dropped on replica 1 is resumed on replica 2, and its retry with the same
    // key on replica 3 is the same turn: the turn log is in the stack's MySQL.
    const [one, two, three] = ports.map((p) => `http://127.0.0.1:${p}`) as [string, string, string];
    const text = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ");
    const key = { "idempotency-key": `compose-${randomBytes(8).toString("hex")}` };
    const body = { content: text };
    const first = await openEvents(`${one}/threads/scaled-resume/messages`, { method: "POST", headers: { accept: "text/event-stream", ...key }, body });
    const lastSeen = (await first.waitForCount("token", 2)).id!;
    first.drop();
    const resumed = await openEvents(`${two}/threads/scaled-resume/turns/${first.headers.get("x-turn-id")}/events`, { headers: { "last-event-id": String(lastSeen) } });
    expect(await resumed.closed).toBe("ended");
    const received = [...first.events.filter((e) => e.id! <= lastSeen), ...resumed.events];
    expect(received.map((e) => e.id)).toEqual(received.map((_, i) => i + 1));
    const done = received.at(-1)!;
    expect(done.event).toBe("done");
    expect(received.filter((e) => e.event === "token").map((e) => e.data.text).join("")).toBe(done.data.reply.content);
    const repeat = await fetch(`${three}/threads/scaled-resume/messages`, { method: "POST", headers: { "content-type": "application/json", ...key }, body: JSON.stringify(body) });
    expect(repeat.headers.get("idempotent-replayed")).toBe("true");
    expect(await repeat.json()).toEqual(done.data);
    expect(await messages(three, "scaled-resume")).toEqual([text, done.data.reply.content]);
    port = ports[0]!;
  }, 900_000);

  it("the app runs as a non-root user and stops cleanly on SIGTERM within the grace period", async () => {
    const ids = (await compose(["ps", "-q", "app"])).stdout.trim().split("\n");
    expect(ids).toHaveLength(3);
    for (const id of ids) {
      const { stdout } = await run("docker", ["exec", id, "id", "-u"]);
      expect(Number(stdout.trim())).toBeGreaterThan(0);
    }
    const stop = await compose(["stop", "--timeout", String(GRACE_SECONDS), "app"]);
    expect(stop.seconds).toBeLessThan(GRACE_SECONDS);
    for (const id of ids) {
      const { stdout } = await run("docker", ["inspect", "--format", "{{.State.ExitCode}} {{.State.OOMKilled}}", id]);
      // 0, not 137: the app exited by itself after SIGTERM, before Docker's SIGKILL.
      expect(stdout.trim()).toBe("0 false");
    }
    const clean = (await compose(["logs", "--no-color", "app"])).stdout.match(/"clean":true,"msg":"shutdown complete"/g);
    expect(clean).toHaveLength(3);
  }, 300_000);

  it("no password appears in any container's log", async () => {
    const { stdout, stderr } = await compose(["logs", "--no-color", "--timestamps"]);
    const logs = stdout + stderr;
    expect(logs).toContain("ready for connections");
    expect(logs).toContain('"msg":"listening"');
    expect(logs).not.toContain(passwords.root);
    expect(logs).not.toContain(passwords.app);
  }, 120_000);

  it("docker compose down -v removes every conversation", async () => {
    await compose(["down", "-v"]);
    const volumes = await run("docker", ["volume", "ls", "-q", "--filter", `label=com.docker.compose.project=${project}`]);
    expect(volumes.stdout.trim()).toBe("");
    port = await freePort();
    await compose(["up", "-d", "--wait", "--wait-timeout", "300"], { APP_PORT: String(port) });
    expect((await request(url(), "GET", "/threads/alex")).status).toBe(404);
    expect((await request(url(), "GET", "/threads/scaled")).status).toBe(404);
  }, 900_000);
});

describe.skipIf(unavailable !== null)("mysql-init/ under the mysql image's own entrypoint", () => {
  const project = `agent-init-${randomBytes(3).toString("hex")}`;
  let dir: string | undefined;
  let compose: ReturnType<typeof composeIn> | undefined;
  afterAll(() => removeStack(dir, compose), 120_000);

  it("a database named agent-db_1 and an executable 002-app-user.sh: healthy, and the app user has DML rights only", async () => {
    dir = copyProject();
    compose = composeIn(dir, project);
    chmodSync(join(dir, "mysql-init/002-app-user.sh"), 0o755);
    const root = randomBytes(12).toString("hex");
    writeEnv(dir, { MYSQL_ROOT_PASSWORD: root, APP_DB_PASSWORD: randomBytes(12).toString("hex"), MYSQL_DATABASE: "agent-db_1" });
    // The healthcheck logs in as the app user and reads a table of init's, so healthy means both ran.
    await compose(["up", "-d", "--wait", "--wait-timeout", "300", "mysql"]);
    const { stdout } = await compose(["exec", "-T", "-e", `MYSQL_PWD=${root}`, "mysql", "mysql", "-uroot", "-N", "-e", "SHOW GRANTS FOR agent_app"]);
    expect(stdout).toContain("GRANT SELECT, INSERT, UPDATE, DELETE ON `agent-db\\\\_1`.* TO `agent_app`@`%`");
    expect(stdout.trim().split("\n")).toHaveLength(2); // and USAGE on *.*, nothing else
    const logs = (await compose(["logs", "--no-color", "mysql"])).stdout;
    expect(logs).toContain("running /docker-entrypoint-initdb.d/002-app-user.sh"); // executed, not sourced
  }, 600_000);
});
