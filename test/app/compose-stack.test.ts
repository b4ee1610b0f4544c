// The real stack, where a Docker engine answers: docker compose up, converse, down (keeping the
// volume), up again, and the conversation is still there. Skips cleanly without Docker.
import { randomBytes } from "node:crypto";
import { DockerComposeEnvironment, Wait, type StartedDockerComposeEnvironment } from "testcontainers";
import { describe, expect, inject, it } from "vitest";
import { REPO } from "./support/app-process.js";
import { request, say } from "./support/in-process-app.js";
import { freePort } from "../support/free-port.js";


describe.skipIf(!inject("dockerAvailable"))("docker compose stack (testcontainers)", () => {
  it("a conversation survives docker compose down && up", async () => {
    const port = await freePort();
    // One project name for both ups, so the second finds the first one's volume.
    const environment = new DockerComposeEnvironment(REPO, "docker-compose.yml")
      .withProjectName(`agent-template-test-${randomBytes(3).toString("hex")}`)
      .withEnvironment({
        MYSQL_ROOT_PASSWORD: randomBytes(12).toString("hex"),
        MYSQL_DATABASE: "agent",
        APP_DB_USER: "agent_app",
        APP_DB_PASSWORD: randomBytes(12).toString("hex"),
        APP_PORT: String(port),
      })
      .withBuild()
      .withWaitStrategy("app-1", Wait.forHealthCheck())
      .withStartupTimeout(300_000);
    const url = `http://127.0.0.1:${port}`;
    let started: StartedDockerComposeEnvironment | undefined = await environment.up();
    try {
      const hello = await say(url, "user-42", "My name is Alex");
      expect(hello.status).toBe(200);
      await started.down({ removeVolumes: false });
      started = undefined;

      started = await environment.up();
      const who = await say(url, "user-42", "Who am I?");
      expect(who.body.reply.content).toContain("Alex");
      const thread = await request(url, "GET", "/threads/user-42");
      expect(thread.body.messages.map((m: { content: string }) => m.content)).toEqual([
        "My name is Alex",
        hello.body.reply.content,
        "Who am I?",
        who.body.reply.content,
      ]);
    } finally {
      await started?.down({ removeVolumes: true });
    }
  }, 900_000);
});
