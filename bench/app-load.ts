// Part 4: the example app under load: its own process (as `npm start` runs it) on the bench
// database, the offline demo model, 16 clients sending turns through the HTTP API.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { type BenchContext, type PartResult } from "./context.js";
import { prng, sentence } from "./states.js";
import { count, ms, runConcurrently, Samples, table } from "./stats.js";
import { freePort } from "../test/support/free-port.js";

const CLIENTS = 16;
const ENTRY = "app/main.ts";

interface AppPlan {
  /** Turns each client sends, one after another, to its own thread. */
  turnsPerClient: number;
}
const FULL: AppPlan = { turnsPerClient: 40 };
const QUICK: AppPlan = { turnsPerClient: 4 };


/** Peak and current resident memory of a process, in MiB, from /proc (Linux only). */
function memory(pid: number): { peakMiB: number; rssMiB: number } | undefined {
  const path = `/proc/${pid}/status`;
  if (!existsSync(path)) return undefined;
  const status = readFileSync(path, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { peakMiB: kib("VmHWM") / 1024, rssMiB: kib("VmRSS") / 1024 };
}

/** Starts the app as `node --import tsx app/main.ts` (the pid is the app's own) and waits for /healthz. */
export async function startApp(
  mysqlUrl: string,
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const port = await freePort();
  const url = new URL(mysqlUrl);
  // Tables of their own, unless the caller named them (the tracing part gives each variant its own).
  if (!url.searchParams.has("table-prefix")) url.searchParams.set("table-prefix", "app_");
  const child = spawn(process.execPath, ["--import", "tsx", ENTRY], {
    cwd: options.cwd,
    // Empty values also keep a developer's .env (a real model, API keys) out of the measurement.
    env: {
      ...process.env,
      MYSQL_URL: url.toString(),
      ...{ MYSQL_PASSWORD: "", MYSQL_PASSWORD_FILE: "", OPENAI_API_KEY: "", API_KEYS: "" },
      // No limiter, and room for the bench's 16 clients' turns at once (without API keys, the
      // default of 10 turns per tenant is 10 per server, and the 11th would be a 429).
      ...{ PORT: String(port), HOST: "127.0.0.1", RATE_LIMIT_PER_MINUTE: "0", MAX_TURNS_PER_TENANT: "64" },
      ...options.env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => void (stderr += chunk.toString()));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the app exited with code ${child.exitCode}: ${stderr.slice(-2000)}`);
    const healthy = await fetch(`${base}/healthz`).then((r) => r.ok, () => false);
    if (healthy) return { child, url: base, stderr: () => stderr };
    if (Date.now() > deadline) throw new Error(`the app did not answer /healthz within 30 s: ${stderr.slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function stopApp(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  if (child.exitCode === null) child.kill("SIGKILL");
}

export async function runAppLoad(ctx: BenchContext): Promise<PartResult> {
  const title = "Part 4: the example app under load (HTTP, demo model)";
  if (!existsSync(ENTRY)) {
    return { title, skipped: `the example app (${ENTRY}) is not available`, report: [], data: {} };
  }
  const plan = ctx.quick ? QUICK : FULL;
  const app = await startApp(ctx.mysqlUrl);
  const samples = new Samples();
  const errors: string[] = [];
  let mem: ReturnType<typeof memory>;
  try {
    ctx.log(`  app: ${CLIENTS} clients × ${plan.turnsPerClient} turns on ${app.url}`);
    const send = (client: number, content: string) =>
      fetch(`${app.url}/threads/bench-${client}/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ content }) });
    // One untimed turn per client first: JIT warm-up, pool connections, the tables created.
    await runConcurrently(CLIENTS, CLIENTS, async (client) => void (await (await send(client, "hello")).arrayBuffer()));
    const started = performance.now();
    await runConcurrently(CLIENTS, CLIENTS, async (client) => {
      const random = prng(client + 1);
      for (let turn = 0; turn < plan.turnsPerClient; turn++) {
        const start = performance.now();
        const response = await send(client, sentence(random, 12));
        await response.arrayBuffer();
        samples.record(performance.now() - start);
        if (!response.ok) errors.push(`HTTP ${response.status}`);
      }
    });
    samples.wallMs = performance.now() - started;
    mem = memory(app.child.pid!);
  } finally {
    await stopApp(app.child);
  }
  const s = samples.summary();
  const failures = errors.length > 0 ? [`the app answered ${errors.length} of ${s.n} turns with an error (${[...new Set(errors)].join(", ")}): ${app.stderr().slice(-1000)}`] : [];
  return {
    title,
    report: [
      `\`node --import tsx app/main.ts\` (what \`npm start\` runs) with MYSQL_URL on the bench database, the offline demo model, rate limiting off. ` +
        `${CLIENTS} clients each send ${plan.turnsPerClient} turns, one after another, to their own thread (POST /threads/:id/messages), after one untimed warm-up turn; ` +
        "each turn loads the thread, runs the agent loop and saves the new checkpoint with compare-and-set. Peak RSS is the app process's VmHWM.",
      table(
        ["turns", "turns/s", "p50 ms", "p99 ms", "peak RSS MiB", "RSS at end MiB"],
        [[s.n, count(s.opsPerSec), ms(s.p50), ms(s.p99), mem ? mem.peakMiB.toFixed(0) : "-", mem ? mem.rssMiB.toFixed(0) : "-"]],
      ),
    ],
    data: { ...s, clients: CLIENTS, turnsPerClient: plan.turnsPerClient, memory: mem, errors: errors.length },
    failures,
  };
}
