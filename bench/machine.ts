// The machine a run came from, for the JSON and BENCHMARKS.md.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, totalmem } from "node:os";
import mysql from "mysql2/promise";

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  mysql: string;
  /** The code measured: the commit, and the files of the module or app that differ from it. */
  code?: string;
}

function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** The server version and the durability settings that bound the cost of a commit. */
async function mysqlDescription(url: string): Promise<string> {
  const conn = await mysql.createConnection(url);
  try {
    const [[r]] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT VERSION() AS v, @@log_bin AS binlog, @@sync_binlog AS sync, @@innodb_flush_log_at_trx_commit AS flush, @@innodb_buffer_pool_size AS pool",
    );
    return `MySQL ${r!.v} (log_bin=${r!.binlog}, sync_binlog=${r!.sync}, innodb_flush_log_at_trx_commit=${r!.flush}, buffer pool ${Math.round(Number(r!.pool) / 2 ** 20)} MiB)`;
  } finally {
    await conn.end();
  }
}

/** Where the measured code lives: the module, the app (its part), and what installs them. */
const MEASURED = ["checkpointer", "app", "package.json", "package-lock.json"];

/** `commit 1a2b3c4`, and which files of the measured code (not the bench, tests or docs) had changes not committed. */
function describeCode(): string {
  try {
    const git = (...args: string[]) => execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const commit = git("rev-parse", "--short", "HEAD").trim();
    // Porcelain lines are "XY path": the status letters may start with a space, so no trim before slicing.
    const changed = git("status", "--porcelain", "--untracked-files=no", "--", ...MEASURED)
      .split("\n")
      .filter(Boolean)
      .map((line) => line.slice(3));
    return changed.length === 0 ? `commit ${commit}` : `commit ${commit} with uncommitted changes to ${changed.join(", ")}`;
  } catch {
    return "unknown (not a git checkout)";
  }
}

export async function describeMachine(mysqlUrl: string): Promise<Machine> {
  return {
    cpus: availableParallelism(),
    cpuModel: cpuModel(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    mysql: await mysqlDescription(mysqlUrl),
    code: describeCode(),
  };
}
