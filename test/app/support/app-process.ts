import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

export const REPO = resolve(import.meta.dirname, "../../..");

/**
 * `app/main.ts` as one node process with tsx's loader, for `startAppProcess(...APP_MAIN, …)`.
 * Not the `tsx` CLI: it runs the app in a second process, which a SIGKILL of the CLI leaves running.
 */
export const APP_MAIN: [command: string, args: string[]] = [
  process.execPath,
  ["--import", pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href, resolve(REPO, "app/main.ts")],
];

export interface AppProcess {
  child: ChildProcess;
  /** Where the app listens, from its "listening" log line. */
  url: string;
  /** Everything it printed so far (JSON log lines), stdout and stderr. */
  output: () => string;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts the app as its own process (PORT=0 in `env` picks a free port) and resolves once it
 * logs that it is listening; rejects with its output if it exits first.
 */
export function startAppProcess(
  command: string,
  args: string[],
  options: { cwd: string; env: Record<string, string>; /** its own process group, to signal it whole */ detached?: boolean },
): Promise<AppProcess> {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, detached: options.detached ?? false, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once("exit", (code, signal) => done({ code, signal })),
  );
  return new Promise((resolveStart, rejectStart) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /"url":"(http:\/\/[^"]+)","msg":"listening"/.exec(output)?.[1];
      if (url) {
        child.stdout?.off("data", onData);
        child.stdout?.on("data", (more: Buffer) => (output += more.toString()));
        resolveStart({ child, url, output: () => output, exited });
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    void exited.then(({ code, signal }) => rejectStart(new Error(`the app exited (code ${code}, signal ${signal}) before listening:\n${output}`)));
  });
}

/** The environment a child process gets: PATH and HOME only, plus `extra`; nothing leaks in from the test's own. */
export function cleanEnv(extra: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...extra };
}
