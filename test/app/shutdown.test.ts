import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { APP_MAIN, cleanEnv, REPO, startAppProcess } from "./support/app-process.js";
import { shutdown } from "../../app/lifecycle.js";
import { request, say, startTestApp } from "./support/in-process-app.js";
import { deferred, HookedModel } from "./support/models.js";

const logger = pino({ level: "silent" });

describe("graceful shutdown", () => {
  it("stops accepting, finishes the in-flight turn, then closes the store", async () => {
    const thinking = deferred();
    const finish = deferred();
    const model = new HookedModel(async () => {
      thinking.resolve();
      await finish.promise;
    });
    const app = await startTestApp({ model });
    const events: string[] = [];

    const turn = say(app.url, "t", "My name is Alex");
    await thinking.promise;
    const closeStore = async () => void events.push(`store closed, turn saved: ${await app.checkpointer.exists("t")}`);
    const stopped = shutdown(app, closeStore, 10_000, logger);

    await expect(fetch(`${app.url}/healthz`)).rejects.toThrow(); // no longer accepting
    events.push("model finishes");
    finish.resolve();

    expect(await stopped).toBe(true);
    const res = await turn;
    expect(res.status).toBe(200);
    expect(res.headers.get("connection")).toBe("close");
    expect(events).toEqual(["model finishes", "store closed, turn saved: true"]);
    expect((await app.checkpointer.load("t"))?.messages).toHaveLength(2);
  });

  it("does not wait for idle keep-alive connections", async () => {
    const app = await startTestApp();
    // An idle connection would otherwise stay open for a minute, far beyond the bound below.
    app.server.keepAliveTimeout = 60_000;
    expect((await request(app.url, "GET", "/healthz")).status).toBe(200); // leaves a kept-alive connection
    const open = await new Promise<number>((resolve, reject) => app.server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
    expect(open).toBe(1);
    // An idle server stops in milliseconds; a second is the margin for a busy machine.
    const stopped = shutdown(app, async () => {}, 60_000, logger);
    const outcome = await Promise.race([stopped, sleep(1_000).then(() => "still waiting after 1 s")]);
    if (outcome !== true) app.server.closeAllConnections();
    expect(outcome).toBe(true);
  });

  it("cuts turns that outlast the timeout, still closes the store, and reports an unclean stop", async () => {
    const stuck = deferred();
    const model = new HookedModel(async () => {
      stuck.resolve();
      await new Promise(() => {}); // a model that never answers
    });
    const app = await startTestApp({ model });
    let storeClosed = false;

    const turn = say(app.url, "t", "hello");
    await stuck.promise;
    expect(await shutdown(app, async () => void (storeClosed = true), 50, logger)).toBe(false);
    await expect(turn).rejects.toThrow();
    expect(storeClosed).toBe(true);
  });

  it("exits on SIGTERM even when whatever read its log has gone (a broken stdout pipe)", async () => {
    const data = mkdtempSync(join(tmpdir(), "broken-pipe-"));
    try {
      const app = await startAppProcess(...APP_MAIN, { cwd: REPO, env: cleanEnv({ PORT: "0", DATA_DIR: data }) });
      app.child.stdout?.destroy();
      app.child.stderr?.destroy();
      app.child.kill("SIGTERM");
      const exited = await Promise.race([app.exited, new Promise((resolve) => setTimeout(() => resolve("still running after 10 s"), 10_000))]);
      if (exited === "still running after 10 s") app.child.kill("SIGKILL");
      expect(exited).toEqual({ code: 0, signal: null });
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  }, 30_000);
});
