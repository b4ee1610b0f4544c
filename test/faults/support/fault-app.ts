// The app under fault: a real child process (node + tsx), as many as a scenario needs, all
// killed at the end. Its output is kept for the secrets check.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { APP_MAIN, cleanEnv, startAppProcess, type AppProcess } from "../../app/support/app-process.js";

export interface FaultApp extends AppProcess {
  /** Resident set size now, in bytes. */
  rss(): number;
  /** True until the process exits. */
  alive(): boolean;
}

const started: FaultApp[] = [];
// An empty working directory: no .env from the checkout or anywhere else is read.
const workDir = mkdtempSync(join(tmpdir(), "fault-app-"));

/** Starts the app with `env` over a clean environment: any free port, no rate limit unless `env` sets one. */
export async function startApp(env: Record<string, string>): Promise<FaultApp> {
  const app = await startAppProcess(...APP_MAIN, {
    cwd: workDir,
    env: cleanEnv({ HOST: "127.0.0.1", PORT: "0", RATE_LIMIT_PER_MINUTE: "0", ...env }),
  });
  let running = true;
  void app.exited.then(() => (running = false));
  const faultApp: FaultApp = {
    ...app,
    rss: () => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${app.child.pid}/status`, "utf8"))![1]) * 1024,
    alive: () => running,
  };
  started.push(faultApp);
  return faultApp;
}

/**
 * Creates the app's own MySQL user (all rights on `agent`, nothing global) on the server that
 * `rootUrl` reaches, and returns the app's MYSQL_URL through `port`: a password in the URL, so the
 * scenario's error paths are searched for it too.
 */
export async function appUserUrl(rootUrl: string, user: string, password: string, port: string | number): Promise<string> {
  const root = await mysql.createConnection(rootUrl);
  try {
    await root.query("CREATE USER ?@'127.0.0.1' IDENTIFIED BY ?", [user, password]);
    await root.query("GRANT ALL ON agent.* TO ?@'127.0.0.1'", [user]);
  } finally {
    await root.end();
  }
  return `mysql://${user}:${password}@127.0.0.1:${port}/agent`;
}

/** SIGKILLs every app still running; for afterAll. */
export async function killApps(): Promise<void> {
  await Promise.all(
    started.splice(0).map((app) => {
      if (app.alive()) app.child.kill("SIGKILL");
      return app.exited;
    }),
  );
}

export function removeWorkDir(): void {
  rmSync(workDir, { recursive: true, force: true });
}
