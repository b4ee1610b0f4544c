// Stopping `npm start` as people and tools do: a signal to npm's own PID (`kill <pid>`, an IDE, a
// process runner), or Ctrl-C (SIGINT to the terminal's whole process group). npm passes the signal
// to the shell it runs the app in, which does not pass it on (dash), so the app notices that shell
// has gone (app/parent-watch.ts).
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanEnv, REPO, startAppProcess, type AppProcess } from "./support/app-process.js";

const npm = process.platform === "win32" ? "npm.cmd" : "npm";

/** A copy of the project with the checkout's node_modules, so no `.env` of the checkout is read. */
function copyProject(): string {
  const root = mkdtempSync(join(tmpdir(), "npm-start-"));
  for (const file of ["package.json", "tsconfig.json"]) copyFileSync(join(REPO, file), join(root, file));
  for (const dir of ["app", "checkpointer"]) cpSync(join(REPO, dir), join(root, dir), { recursive: true });
  symlinkSync(join(REPO, "node_modules"), join(root, "node_modules"));
  return root;
}

/** The app's own PID, from its "listening" log line (npm's child is a shell, the app its child). */
function appPid(app: AppProcess): number {
  const pid = /"pid":(\d+)[^\n]*"msg":"listening"/.exec(app.output())?.[1];
  if (!pid) throw new Error(`no pid in the app's output:\n${app.output()}`);
  return Number(pid);
}

/** True while `pid` runs; a zombie (exited, not yet reaped: PID 1 may never reap it) is not running. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return process.platform !== "linux";
  }
}

describe("stopping npm start", () => {
  let root: string | undefined;
  let group: number | undefined;
  afterEach(() => {
    // Whatever a failed test left running.
    if (group !== undefined) {
      try {
        process.kill(-group, "SIGKILL");
      } catch {
        // already gone
      }
    }
    if (root) rmSync(root, { recursive: true, force: true });
    root = group = undefined;
  });

  async function npmStart(): Promise<{ app: AppProcess; npmPid: number; pid: number }> {
    root = copyProject();
    // Its own process group: the test can send what a terminal's Ctrl-C sends, and clean up.
    const app = await startAppProcess(npm, ["start"], { cwd: root, env: cleanEnv({ PORT: "0", DATA_DIR: join(root, "data") }), detached: true });
    group = app.child.pid!;
    const pid = appPid(app);
    expect(pid).not.toBe(app.child.pid);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    return { app, npmPid: app.child.pid!, pid };
  }

  it("SIGTERM to npm's PID stops the app, which shuts down cleanly", async () => {
    const { app, npmPid, pid } = await npmStart();
    process.kill(npmPid, "SIGTERM");
    await app.exited;
    await vi.waitFor(() => expect(isRunning(pid)).toBe(false), { timeout: 15_000, interval: 100 });
    // The app's last line may reach this process's pipe reader after the app is gone.
    await vi.waitFor(() => expect(app.output()).toMatch(/"clean":true,"msg":"shutdown complete"/), { timeout: 5_000 });
    await expect(fetch(`${app.url}/healthz`)).rejects.toThrow();
  }, 60_000);

  it("Ctrl-C (SIGINT to the process group) stops npm and the app, cleanly", async () => {
    const { app, npmPid, pid } = await npmStart();
    process.kill(-npmPid, "SIGINT");
    await app.exited;
    await vi.waitFor(() => expect(isRunning(pid)).toBe(false), { timeout: 15_000, interval: 100 });
    expect(app.output()).toMatch(/"signal":"SIGINT","msg":"shutting down: finishing in-flight requests"/);
    await vi.waitFor(() => expect(app.output()).toMatch(/"clean":true,"msg":"shutdown complete"/), { timeout: 5_000 });
  }, 60_000);
});
