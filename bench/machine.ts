// The machine a run came from, for the JSON and BENCHMARKS.md.
import { readFileSync } from "node:fs";
import { availableParallelism, totalmem } from "node:os";
import mysql from "mysql2/promise";

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  mysql: string;
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

export async function describeMachine(mysqlUrl: string): Promise<Machine> {
  return {
    cpus: availableParallelism(),
    cpuModel: cpuModel(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    mysql: await mysqlDescription(mysqlUrl),
  };
}
