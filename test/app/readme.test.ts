// The README's curl examples, run as written against the app (only the host is changed).
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO } from "./support/app-process.js";
import { parseEvents } from "./support/event-stream.js";
import { startTestApp, type TestApp } from "./support/in-process-app.js";

const run = promisify(execFile);
const readme = readFileSync(join(REPO, "README.md"), "utf8");
const apiSection = readme.slice(readme.indexOf("## The HTTP API"), readme.indexOf("## Configuration"));
const apiLines = apiSection.split("\n");
const curls = apiLines.filter((line) => line.startsWith("curl "));
/** `NAME=$(curl …)`: a value later examples use as `$NAME`. */
const ASSIGNMENT = /^([A-Z_]+)=(\$\(curl .*\))$/;

describe("README: the HTTP API examples", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.stop());

  it("has one for every endpoint", () => {
    const endpoints = curls.map((c) => `${/-X (\w+)/.exec(c)?.[1] ?? "GET"} ${/localhost:3000(\/[^\s'?]*)/.exec(c)?.[1]}`);
    expect(endpoints).toEqual([
      "POST /threads/user-42/messages",
      "POST /threads/user-42/messages",
      "GET /threads/user-42",
      "GET /threads",
      "GET /search",
      "GET /threads/user-42/checkpoints",
      "GET /threads/user-42",
      "POST /threads/user-42/fork",
      "DELETE /threads/user-42-what-if",
      "GET /healthz",
    ]);
  });

  it("all succeed, in order", async () => {
    const outputs: string[] = [];
    const env: Record<string, string> = { ...process.env } as Record<string, string>;
    for (const line of apiLines) {
      const local = line.replaceAll("http://localhost:3000", app.url);
      const assignment = ASSIGNMENT.exec(local);
      if (assignment) {
        env[assignment[1]!] = (await run("bash", ["-c", `printf %s ${assignment[2]}`], { env })).stdout;
        continue;
      }
      if (!line.startsWith("curl ")) continue;
      // --fail turns an HTTP error into a non-zero exit, which rejects.
      outputs.push((await run("bash", ["-c", `${local} --fail --show-error`], { env })).stdout);
    }
    const [sent, streamed, thread, list, search, checkpoints, past, fork, deleted, health] = outputs;
    const json = (output: string | undefined) => JSON.parse(output!);
    expect(json(sent).reply.content).toContain("Alex");
    const events = parseEvents(streamed!);
    expect(events.map((e) => e.event)).toContain("token");
    expect(events.at(-1)).toMatchObject({ event: "done", data: { reply: { content: expect.stringContaining("Sam") } } });
    expect(json(thread).messages).toHaveLength(4);
    expect(json(list).threads.map((t: { threadId: string }) => t.threadId)).toEqual(["user-42"]);
    expect(json(list).nextCursor).toBeNull();
    expect(json(search).hits).toEqual([expect.objectContaining({ threadId: "user-42", snippet: expect.stringContaining("Alex") })]);
    const history = json(checkpoints).checkpoints;
    expect(history).toHaveLength(2);
    expect(env.FIRST).toBe(history[1].checkpointId);
    expect(json(past)).toMatchObject({ checkpointId: env.FIRST, messages: [{ content: "My name is Alex" }, { role: "assistant" }] });
    expect(json(fork)).toEqual({ threadId: "user-42-what-if", checkpointId: env.FIRST, forkedFrom: "user-42" });
    expect(deleted).toBe("");
    expect(json(health)).toEqual({ status: "ok", checkpointer: "memory" });
  });
});

describe("README: the API key example (Security)", () => {
  const security = readme.slice(readme.indexOf("## Security"), readme.indexOf("## Why these libraries"));
  const commands = security.split("\n").filter((line) => line.startsWith("curl "));
  const key = "readme-key-0123456789abcdef";
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ options: { apiKeys: [key] } });
  });
  afterAll(() => app.stop());

  it("works as written with $KEY, and the request without a key prints 401", async () => {
    const outputs: string[] = [];
    for (const command of commands) {
      const { stdout } = await run("bash", ["-c", command.replaceAll("http://localhost:3000", app.url)], { env: { ...process.env, KEY: key } });
      outputs.push(stdout);
    }
    expect(outputs).toHaveLength(3);
    expect(JSON.parse(outputs[0]!).reply.content).toContain("Alex");
    expect(JSON.parse(outputs[1]!).threads.map((t: { threadId: string }) => t.threadId)).toEqual(["user-42"]);
    expect(outputs[2]).toBe("401\n");
  });
});
