// A private InnoDB Cluster (three Group Replication members and MySQL Router) for the tests and
// the benchmark: scripts/mysql-cluster.sh on free ports, its data deleted afterwards.
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { privateMysqlUnavailable } from "./private-mysql.js";

const run = promisify(execFile);
const SCRIPT = resolve(import.meta.dirname, "../../scripts/mysql-cluster.sh");
/** The script uses base .. base+13 (see its header). */
const PORTS_USED = 14;

/** Why no cluster can run here, or null when one can (the same needs as a private server). */
export const mysqlClusterUnavailable = privateMysqlUnavailable;

export interface MysqlCluster {
  /** Router's read-write port: root, no password, database `agent`. */
  url: string;
  /** A member's URL (root, database `agent`), bypassing Router. */
  memberUrl(port: number): string;
  /** The current primary's port. */
  primary(): Promise<number>;
  /** SIGKILLs the primary's mysqld; resolves with its port once it is dead. */
  killPrimary(): Promise<number>;
  /** Starts killed members; resolves once all are ONLINE again and the first member is primary. */
  rejoin(): Promise<void>;
  /** Stops everything and deletes the cluster's data. */
  destroy(): Promise<void>;
}

async function isFree(port: number): Promise<boolean> {
  const server = createServer();
  const ok = await new Promise<boolean>((done) => {
    server.once("error", () => done(false));
    server.listen(port, "127.0.0.1", () => done(true));
  });
  if (ok) await new Promise((done) => server.close(done));
  return ok;
}

/** A base port whose whole range is free, below the ephemeral ports the kernel hands out. */
async function freeBase(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20_000 + 20 * Math.floor(Math.random() * 500);
    const ports = Array.from({ length: PORTS_USED }, (_, i) => base + i);
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return base;
  }
  throw new Error("no free range of ports for a MySQL cluster");
}

/** Starts a fresh cluster (about a minute and a half: three data directories are initialised). */
export async function startMysqlCluster(): Promise<MysqlCluster> {
  const base = await freeBase();
  const env = { ...process.env, MYSQL_CLUSTER_BASE_PORT: String(base) };
  const script = async (...args: string[]) => (await run("bash", [SCRIPT, ...args], { env, timeout: 300_000 })).stdout.trim();
  const destroy = async () => void (await script("stop", "--wipe"));
  let url: string;
  try {
    url = (await script("start", "--fresh")).split("\n").at(-1)!;
  } catch (error) {
    await destroy().catch(() => {});
    throw error;
  }
  return {
    url,
    memberUrl: (port) => `mysql://root@127.0.0.1:${port}/agent`,
    primary: async () => Number(await script("primary")),
    killPrimary: async () => Number(await script("kill-primary")),
    rejoin: async () => void (await script("rejoin")),
    destroy,
  };
}
