// Issue 21's target: during any single request, /healthz answers within 100 ms. A real app process
// (demo model, SQLite store) gets the heaviest requests one client can send within the default
// limits, each as a JSON turn and as a streamed one, and a search over what they stored; /healthz
// is polled on fresh connections meanwhile.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APP_MAIN, cleanEnv, startAppProcess, type AppProcess } from "./support/app-process.js";
import { HEAVY_MESSAGES, pollHealthDuring, sendHeavy } from "./support/heavy-requests.js";

const TARGET_MS = 100;
/**
 * A case whose slowest poll misses the target runs again, up to twice, each time on a new thread.
 * Work that blocks the app's event loop misses it on every run; a busy machine's scheduling does
 * not. Measured on a shared two-core machine (load average 2 to 4), 8 runs of these cases after a
 * warm-up: polls took 2 to 90 ms, once 111 ms; the app's event loop was late by 55 to 115 ms at
 * those moments while using under 2 ms of CPU (waiting for a core, not working), and its longest
 * busy stretch during a case was 16 ms.
 */
const RETRY = 2;

describe("/healthz during the heaviest single requests (app process, SQLite store)", () => {
  const dir = mkdtempSync(join(tmpdir(), "healthz-latency-"));
  let app: AppProcess;
  beforeAll(async () => {
    app = await startAppProcess(...APP_MAIN, { cwd: dir, env: cleanEnv({ PORT: "0", HOST: "127.0.0.1", DATA_DIR: dir, RATE_LIMIT_PER_MINUTE: "0" }) });
    // Warm, as a server that has served before: the very first request compiles the code it runs.
    for (const stream of [false, true]) expect(await sendHeavy(app.url, "warm-up", "calculate 2+3", stream)).toBe(200);
  });
  afterAll(async () => {
    app?.child.kill("SIGKILL");
    await app?.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  let threads = 0;
  const cases = Object.entries(HEAVY_MESSAGES).flatMap(([name, content]) => [
    [`${name}, JSON`, () => sendHeavy(app.url, `heavy-${++threads}`, content, false)],
    [`${name}, streamed`, () => sendHeavy(app.url, `heavy-${++threads}`, content, true)],
  ]) as [string, () => Promise<number>][];
  cases.push([
    "a search of 1,000 characters over all those threads",
    async () => {
      const q = Array.from({ length: 200 }, (_, i) => `w${i}`).join(" ").padEnd(1_000, "a").slice(0, 1_000);
      return (await fetch(`${app.url}/search?q=${encodeURIComponent(q)}&limit=100`)).status;
    },
  ]);

  it.each(cases)(`%s: /healthz answers within ${TARGET_MS} ms meanwhile`, { retry: RETRY }, async (_name, send) => {
    const { result: status, answers } = await pollHealthDuring(app.url, send);
    expect(status).toBe(200);
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    const times = answers.map((a) => Math.round(a.ms));
    expect(Math.max(...times), `/healthz times in ms: ${times.join(", ")}`).toBeLessThan(TARGET_MS);
  });
});
