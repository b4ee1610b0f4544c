import { resolve } from "node:path";
import mysql from "mysql2/promise";

const HOW_TO =
  "set MYSQL_URL=mysql://root@127.0.0.1:3307/agent (on Debian: sudo scripts/mysql-local.sh start) or start a Docker engine";

export interface ResolvedMySQL {
  url: string | null;
  reason: string;
  description: string;
  dockerAvailable: boolean;
  stop: () => Promise<void>;
}

/** True when testcontainers can reach a container runtime (the `docker` client alone proves nothing). */
export async function dockerAvailable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import("testcontainers");
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

export async function resolveMySQL(): Promise<ResolvedMySQL> {
  const docker = await dockerAvailable();
  const fromEnv = process.env.MYSQL_URL;
  if (fromEnv) {
    const version = await serverVersion(fromEnv);
    return { url: fromEnv, reason: "", description: `MYSQL_URL (MySQL ${version})`, dockerAvailable: docker, stop: async () => {} };
  }
  if (!docker) return { url: null, reason: `MYSQL_URL is unset and no Docker runtime answers; ${HOW_TO}`, description: "", dockerAvailable: false, stop: async () => {} };
  const { GenericContainer, Wait } = await import("testcontainers");
  const container = await new GenericContainer("mysql:9.7")
    .withEnvironment({ MYSQL_ALLOW_EMPTY_PASSWORD: "yes", MYSQL_DATABASE: "agent" })
    .withCopyDirectoriesToContainer([{ source: resolve("mysql-init"), target: "/docker-entrypoint-initdb.d" }])
    .withExposedPorts(3306)
    // The image's init server logs "ready" on port 0 first; the real one on 3306.
    .withWaitStrategy(Wait.forLogMessage(/ready for connections.*port: 3306/))
    .withStartupTimeout(180_000)
    .start();
  const url = `mysql://root@${container.getHost()}:${container.getMappedPort(3306)}/agent`;
  return { url, reason: "", description: `testcontainers mysql:9.7 (${await serverVersion(url)})`, dockerAvailable: true, stop: async () => void (await container.stop()) };
}

async function serverVersion(url: string): Promise<string> {
  const conn = await mysql.createConnection(url);
  try {
    const [[row]] = await conn.query<mysql.RowDataPacket[]>("SELECT VERSION() AS v");
    const version = String(row?.v);
    if (/mariadb/i.test(version)) throw new Error(`MYSQL_URL points at MariaDB ${version}; the tests need MySQL`);
    return version;
  } finally {
    await conn.end();
  }
}
