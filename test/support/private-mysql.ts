// A MySQL server of the test's own, for faults the shared server must never see (SIGKILL, restart):
// scripts/mysql-local.sh on a free port, with its data deleted afterwards.
import { execFile } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { freePort } from "./free-port.js";
import { isCI } from "./ci.js";

const run = promisify(execFile);
const SCRIPT = resolve(import.meta.dirname, "../../scripts/mysql-local.sh");
// The script's cache folder and, inside its chroot, its per-port files (see the script).
const ROOT_FS = join(process.env.MYSQL_LOCAL_HOME ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "agent-mysql"), "rootfs");

/** Why no private server can run here, or null when one can. In CI (./ci.ts) the callers must not skip. */
export function privateMysqlUnavailable(): string | null {
  if (process.platform !== "linux") return "scripts/mysql-local.sh runs on Linux only";
  if (process.getuid?.() !== 0) return "scripts/mysql-local.sh needs root (chroot)";
  // Without the cached root the script would spend minutes on debootstrap: CI does that, a laptop should not.
  if (!existsSync(join(ROOT_FS, "usr/sbin/mysqld")) && !isCI()) {
    return `no cached MySQL root at ${ROOT_FS} (run scripts/mysql-local.sh start once)`;
  }
  return null;
}

export interface PrivateMysql {
  /** root, no password, database `agent`. */
  url: string;
  port: number;
  /** SIGKILL, like a crash or the OOM killer; resolves once the process is dead. */
  kill(): Promise<void>;
  /** Starts it again on the same data; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it and deletes its data directory. */
  destroy(): Promise<void>;
}


/** Dead, or a zombie nobody reaps (what SIGKILL leaves where PID 1 does not reap orphans). */
function isDead(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(" ")[2] === "Z";
  } catch {
    return true;
  }
}

/** Starts a fresh server on a free port (about 10 s: it initialises a new data directory). */
export async function startPrivateMysql(): Promise<PrivateMysql> {
  const port = await freePort();
  const env = { ...process.env, MYSQL_LOCAL_PORT: String(port) };
  const script = async (...args: string[]) => (await run("bash", [SCRIPT, ...args], { env })).stdout.trim();
  const destroy = async () => {
    await script("stop");
    // Everything the script and mysqld made for this port (a killed mysqld leaves its pid and socket files).
    const files = [`var/lib/mysql-${port}`, `var/log/mysqld-${port}.log`, `var/log/mysqld-${port}.log.init`, `run/mysqld/init-${port}.sql`];
    for (const suffix of [".pid", ".sock", ".sock.lock"]) files.push(`run/mysqld/mysqld-${port}${suffix}`);
    for (const path of files) rmSync(join(ROOT_FS, path), { recursive: true, force: true });
  };
  let url: string;
  try {
    url = await script("start", "--fresh");
  } catch (error) {
    await destroy().catch(() => {});
    throw error;
  }
  return {
    url,
    port,
    async kill() {
      const pid = Number(readFileSync(join(ROOT_FS, `run/mysqld/mysqld-${port}.pid`), "utf8"));
      process.kill(pid, "SIGKILL");
      while (!isDead(pid)) await sleep(20);
    },
    async start() {
      await script("start");
    },
    destroy,
  };
}
