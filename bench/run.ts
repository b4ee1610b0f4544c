// `npm run bench [-- --quick] [--write-md] [--only=ops,peers,app,scale,long,sqlite,storage,tracing,turn-stream,cluster]`: every part (but cluster) in one run,
// on a fresh database of the MySQL server in MYSQL_URL (dropped at the end). Prints tables,
// writes bench/results/<time>.json, and with --write-md the generated part of BENCHMARKS.md.
import { mkdirSync, writeFileSync } from "node:fs";
import { freshDatabase } from "../test/support/databases.js";
import type { BenchContext, PartResult } from "./context.js";
import { describeMachine } from "./machine.js";
import { runAppLoad } from "./app-load.js";
import { runCluster } from "./cluster.js";
import { runLongConversation } from "./long-conversation.js";
import { writeMarkdown } from "./markdown.js";
import { runOps } from "./ops.js";
import { runPeers } from "./peers.js";
import { runScale } from "./scale.js";
import { runSqlite } from "./sqlite.js";
import { runStorage } from "./storage.js";
import { runTracing } from "./tracing.js";
import { runTurnStream } from "./turn-stream.js";
import { table, times } from "./stats.js";

const PARTS: Record<string, (ctx: BenchContext) => Promise<PartResult>> = {
  ops: runOps,
  peers: runPeers,
  app: runAppLoad,
  scale: runScale,
  long: runLongConversation,
  sqlite: runSqlite,
  storage: runStorage,
  tracing: runTracing,
  "turn-stream": runTurnStream,
  cluster: runCluster,
};
// It starts a private InnoDB Cluster (root, about two minutes): only when --only names it.
const OPT_IN = new Set(["cluster"]);

const DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3307/agent";
const DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres";

function parseArgs(argv: string[]) {
  const only = argv.find((a) => a.startsWith("--only="))?.slice("--only=".length).split(",");
  const unknown = only?.filter((p) => !PARTS[p]) ?? [];
  if (unknown.length > 0) throw new Error(`unknown part(s) ${unknown.join(", ")}; known: ${Object.keys(PARTS).join(", ")}`);
  return { quick: argv.includes("--quick"), writeMd: argv.includes("--write-md"), parts: only ?? Object.keys(PARTS).filter((p) => !OPT_IN.has(p)) };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const rootUrl = process.env.MYSQL_URL ?? DEFAULT_MYSQL_URL;
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  const started = new Date();
  const machine = await describeMachine(rootUrl);
  console.log(`bench: ${args.quick ? "quick" : "full"} run on ${machine.cpus}× ${machine.cpuModel}, ${machine.memoryGiB} GiB, ${machine.mysql}, Node ${machine.node}`);
  const db = await freshDatabase(rootUrl, "bench");
  const ctx: BenchContext = {
    quick: args.quick,
    mysqlUrl: db.url,
    postgresUrl: process.env.POSTGRES_URL ?? DEFAULT_POSTGRES_URL,
    log: (line) => console.log(line),
  };
  const results: Record<string, PartResult> = {};
  try {
    for (const name of args.parts) {
      const start = performance.now();
      console.log(`\n== ${name} ==`);
      const result = await PARTS[name]!(ctx);
      results[name] = result;
      console.log(`\n${result.title} (${((performance.now() - start) / 1000).toFixed(1)} s)`);
      if (result.skipped) console.log(`skipped: ${result.skipped}`);
      for (const block of result.report) console.log(`\n${block}`);
    }
  } finally {
    await db.drop();
  }
  const targets = Object.values(results).flatMap((r) => r.targets ?? []);
  if (targets.length > 0) {
    console.log(`\nTargets\n\n${table(["target", "measured", "limit", "met"], targets.map((t) => [t.name, times(t.value), times(t.limit), t.met ? "yes" : "NO"]))}`);
  }
  const seconds = (Date.now() - started.getTime()) / 1000;
  const output = { command, startedAt: started.toISOString(), seconds, quick: args.quick, machine, parts: results, targets };
  mkdirSync("bench/results", { recursive: true });
  const file = `bench/results/${started.toISOString().replace(/[:.]/g, "-")}${args.quick ? "-quick" : ""}.json`;
  writeFileSync(file, `${JSON.stringify(output, null, 2)}\n`);
  console.log(`\nwrote ${file} (${seconds.toFixed(1)} s)`);
  const failures = Object.values(results).flatMap((r) => r.failures ?? []);
  if (failures.length > 0) {
    console.error(`\n${"!".repeat(72)}\nBENCH FAILED:\n${failures.map((f) => `- ${f}`).join("\n")}\n${"!".repeat(72)}`);
    return 1;
  }
  if (args.writeMd) console.log(`wrote ${writeMarkdown(output)}`);
  return 0;
}

// An exit code, not process.exit(): exiting mid-teardown crashes better-sqlite3's finalizers.
main().then(
  (code) => void (process.exitCode = code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exitCode = 1;
  },
);
