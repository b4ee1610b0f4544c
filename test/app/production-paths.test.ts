// The two ways to run the app in production without Docker, each in a copy of the project as a
// user has it: the image's way (build, then node on the compiled output) and `npm start` on
// production dependencies only.
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanEnv, REPO, startAppProcess } from "./support/app-process.js";

const npm = process.platform === "win32" ? "npm.cmd" : "npm";

/** A copy of what a clone holds that the app needs, without node_modules. */
function copyProject(): string {
  const root = mkdtempSync(join(tmpdir(), "prod-"));
  for (const file of ["package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json"]) {
    copyFileSync(join(REPO, file), join(root, file));
  }
  for (const dir of ["app", "checkpointer"]) cpSync(join(REPO, dir), join(root, dir), { recursive: true });
  return root;
}

/**
 * Starts `command` in its own process group, checks that the API and the chat page answer, and
 * stops it as a terminal or a service manager does: SIGTERM to the whole group (npm and the shell
 * it starts do not pass a signal on to the app).
 */
async function servesApiAndPage(root: string, command: string, args: string[]) {
  const app = await startAppProcess(command, args, { cwd: root, env: cleanEnv({ PORT: "0", NODE_ENV: "production" }), detached: true });
  try {
    expect(await (await fetch(`${app.url}/healthz`)).json()).toEqual({ status: "ok", checkpointer: "sqlite" });
    expect(await (await fetch(`${app.url}/`)).text()).toContain("<title>Agent chat</title>");
    expect(await (await fetch(`${app.url}/app.js`)).text()).toContain("/threads");
  } finally {
    process.kill(-app.child.pid!, "SIGTERM");
  }
  await app.exited;
  // The app's own word: its graceful shutdown ran, whichever process exited first.
  await vi.waitFor(() => expect(app.output()).toMatch(/"clean":true,"msg":"shutdown complete"/), { timeout: 15_000 });
}

describe("running in production without Docker", () => {
  let root: string | undefined;
  afterEach(() => {
    if (root) rmSync(root, { recursive: true, force: true });
    root = undefined;
  });

  it("npm run build, then node dist/app/main.js (what the image runs) serves the API and the page", async () => {
    root = copyProject();
    symlinkSync(join(REPO, "node_modules"), join(root, "node_modules"));
    execFileSync(npm, ["run", "build"], { cwd: root, stdio: "pipe" });
    await servesApiAndPage(root, process.execPath, ["dist/app/main.js"]);
  }, 120_000);

  it("npm ci --omit=dev, then npm start, serves the API and the page", async () => {
    root = copyProject();
    // From npm's cache where it can (the test run's own npm ci filled it): the production tree only.
    execFileSync(npm, ["ci", "--omit=dev", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: root, stdio: "pipe" });
    await servesApiAndPage(root, npm, ["start"]);
  }, 300_000);
});
