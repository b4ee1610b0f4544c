// Part "tracing" (issue 19): turn latency of the example app with tracing off and with tracing
// exporting to a local OTLP receiver, against the app as it was before OpenTelemetry came in (the
// commit before checkpointer/diagnostics.ts was added, extracted with `git archive` and run on this
// checkout's node_modules). The three run in interleaved rounds, so drift hits each alike.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { target, type BenchContext, type PartResult } from "./context.js";
import { startApp, stopApp } from "./app-load.js";
import { prng, sentence } from "./states.js";
import { ms, percentile, runConcurrently, table, times } from "./stats.js";

const CLIENTS = 16;
const FULL = { rounds: 6, turnsPerClient: 25 };
const QUICK = { rounds: 1, turnsPerClient: 3 };

type Variant = "before" | "off" | "on";

/** The commit before this feature's first: where diagnostics.ts did not exist yet. */
function beforeCommit(): string {
  const added = execFileSync("git", ["log", "--diff-filter=A", "--format=%H", "--", "checkpointer/diagnostics.ts"], { encoding: "utf8" }).trim().split("\n").at(-1);
  if (!added) throw new Error("checkpointer/diagnostics.ts has no commit that added it");
  return execFileSync("git", ["rev-parse", `${added}^`], { encoding: "utf8" }).trim();
}

/** A local OTLP/HTTP receiver: takes every export (traces, metrics, logs), counts it, answers 200. */
async function startReceiver(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      requests++;
      res.writeHead(200, { "content-type": req.headers["content-type"] ?? "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

export async function runTracing(ctx: BenchContext): Promise<PartResult> {
  const title = "Part tracing: tracing's cost (OpenTelemetry off, on and exporting, and before it was added)";
  const plan = ctx.quick ? QUICK : FULL;
  const commit = beforeCommit();
  const before = mkdtempSync(join(tmpdir(), "bench-before-"));
  execFileSync("sh", ["-c", `git archive ${commit} app checkpointer package.json | tar -x -C ${JSON.stringify(before)}`]);
  symlinkSync(resolve("node_modules"), join(before, "node_modules"));
  const receiver = await startReceiver();
  const samples: Record<Variant, number[]> = { before: [], off: [], on: [] };
  /** One client alone: a turn's own latency, without 16 clients' turns queueing for 2 cores. */
  const alone: Record<Variant, number[]> = { before: [], off: [], on: [] };
  const env: Record<Variant, Record<string, string>> = {
    before: {},
    off: {},
    // The SDK's defaults otherwise: http/protobuf, the batch processor's 5 s schedule.
    on: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: "bench" },
  };
  try {
    for (let round = 0; round < plan.rounds; round++) {
      // Each round starts with another variant: none always runs first (after the previous one's load).
      const order = (["before", "off", "on"] as const).map((_, i, all) => all[(i + round) % all.length]!);
      for (const variant of order) {
        // Each variant on its own tables, so no variant reads the others' threads.
        const url = new URL(ctx.mysqlUrl);
        url.searchParams.set("table-prefix", `tr_${variant}_`);
        const app = await startApp(url.toString(), { cwd: variant === "before" ? before : undefined, env: env[variant] });
        try {
          const send = (client: number, content: string) =>
            fetch(`${app.url}/threads/r${round}-${client}/messages`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ content }),
            });
          // Untimed warm-up, a tool turn among them: JIT (the SDK's code too), pool connections, tables.
          for (const content of ["hello", "Calculate 1+1", "hello again", "Calculate 2*2"]) {
            await runConcurrently(CLIENTS, CLIENTS, async (client) => void (await (await send(client, content)).arrayBuffer()));
          }
          const random = prng(round + 100);
          for (let turn = 0; turn < plan.turnsPerClient; turn++) {
            const start = performance.now();
            const response = await send(CLIENTS, turn % 2 === 0 ? `Calculate ${turn}+1` : sentence(random, 12));
            await response.arrayBuffer();
            if (!response.ok) throw new Error(`${variant}: HTTP ${response.status}`);
            alone[variant].push(performance.now() - start);
          }
          await runConcurrently(CLIENTS, CLIENTS, async (client) => {
            const random = prng(client + 1);
            for (let turn = 0; turn < plan.turnsPerClient; turn++) {
              const start = performance.now();
              // Every other turn calls the calculator: a tool span and two chat spans.
              const response = await send(client, turn % 2 === 0 ? `Calculate ${turn}+${client}` : sentence(random, 12));
              await response.arrayBuffer();
              if (!response.ok) throw new Error(`${variant}: HTTP ${response.status}`);
              samples[variant].push(performance.now() - start);
            }
          });
        } finally {
          await stopApp(app.child);
        }
      }
      ctx.log(`  round ${round + 1}/${plan.rounds} done`);
    }
  } finally {
    await receiver.close();
    rmSync(before, { recursive: true, force: true });
  }
  const pct = (list: number[], p: number) => percentile([...list].sort((a, b) => a - b), p);
  const p50 = (v: Variant) => pct(samples[v], 50);
  const p99 = (v: Variant) => pct(samples[v], 99);
  const alone50 = (v: Variant) => pct(alone[v], 50);
  const ratioOff = p50("off") / p50("before");
  const ratioOn = p50("on") / p50("before");
  return {
    title,
    report: [
      `The example app (\`node --import tsx app/main.ts\`, demo model, MySQL) three ways: **before**, the app at ${commit.slice(0, 10)} (before OpenTelemetry and the checkpointer's channels); ` +
        "**off**, this app with no OTEL_* variable (the SDK is never loaded); **on**, this app exporting every span over OTLP/HTTP (protobuf, the SDK's defaults) to a local receiver. " +
        `${CLIENTS} clients each send ${plan.turnsPerClient} turns (every other one with a calculator call) per round, after four untimed warm-up turns each, and before them one client alone sends as many;  ${plan.rounds} round(s), the variants interleaved, each round starting with the next one, a fresh process each. ` +
        `The receiver took ${receiver.requests()} export requests.`,
      table(
        ["variant", "turns", "p50 ms", "p99 ms", "p50 vs before", "one client alone: p50 ms", "vs before"],
        (["before", "off", "on"] as const).map((v) => [
          v,
          samples[v].length,
          ms(p50(v)),
          ms(p99(v)),
          times(p50(v) / p50("before")),
          ms(alone50(v)),
          times(alone50(v) / alone50("before")),
        ]),
      ),
    ],
    data: {
      commit,
      clients: CLIENTS,
      ...plan,
      exports: receiver.requests(),
      p50: { before: p50("before"), off: p50("off"), on: p50("on") },
      p99: { before: p99("before"), off: p99("off"), on: p99("on") },
      aloneP50: { before: alone50("before"), off: alone50("off"), on: alone50("on") },
    },
    targets: [
      target("tracing off: p50 turn latency vs before, 16 clients", ratioOff, 1.02),
      target("tracing on (exporting): p50 turn latency vs before, 16 clients", ratioOn, 1.15),
      target("tracing off: p50 turn latency vs before, one client", alone50("off") / alone50("before"), 1.02),
      target("tracing on (exporting): p50 turn latency vs before, one client", alone50("on") / alone50("before"), 1.15),
    ],
    failures: receiver.requests() === 0 ? ["tracing on exported nothing to the receiver"] : [],
  };
}
