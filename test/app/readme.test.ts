// The README's curl examples, run as written against the app (only the host is changed).
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO } from "./support/app-process.js";
import { startTestApp, type TestApp } from "./support/in-process-app.js";

const run = promisify(execFile);
const readme = readFileSync(join(REPO, "README.md"), "utf8");
const apiSection = readme.slice(readme.indexOf("## The HTTP API"), readme.indexOf("## Configuration"));
const curls = apiSection.split("\n").filter((line) => line.startsWith("curl "));

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
      "GET /threads/user-42",
      "GET /threads",
      "GET /threads/user-42/checkpoints",
      "POST /threads/user-42/fork",
      "DELETE /threads/user-42-what-if",
      "GET /healthz",
    ]);
  });

  it("all succeed, in order", async () => {
    const outputs: string[] = [];
    for (const command of curls) {
      // --fail turns an HTTP error into a non-zero exit, which rejects.
      const { stdout } = await run("bash", ["-c", `${command.replaceAll("http://localhost:3000", app.url)} --fail --show-error`]);
      outputs.push(stdout);
    }
    const [sent, thread, list, checkpoints, fork, deleted, health] = outputs.map((o) => (o ? JSON.parse(o) : undefined));
    expect(sent.reply.content).toContain("Alex");
    expect(thread.messages).toHaveLength(2);
    expect(list.threads.map((t: { threadId: string }) => t.threadId)).toEqual(["user-42"]);
    expect(checkpoints.checkpoints).toHaveLength(1);
    expect(fork).toMatchObject({ threadId: "user-42-what-if", forkedFrom: "user-42" });
    expect(deleted).toBeUndefined();
    expect(health).toEqual({ status: "ok", checkpointer: "memory" });
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
