// A bench helper in a child process of its own (a LangGraph saver, an app replica), driven over
// IPC: each request names a call and its arguments, each answer carries its id.
import { fork } from "node:child_process";

export interface ChildRequest {
  id: number;
  call: string;
  args: unknown[];
}

export class ChildDied extends Error {
  constructor(what: string, how: string, stderr = "") {
    super(`${what} died (${how})${stderr ? `: ${stderr.slice(-1000)}` : ""}`);
  }
}

export interface Child<Call extends string> {
  request<T>(call: Call, ...args: unknown[]): Promise<T>;
  /** Resolves when the process has exited (whatever the reason). */
  died: Promise<ChildDied>;
}

/** Forks `module` (a .ts file run through tsx, as the bench itself is) with `args`; `what` names it in errors. */
export function forkChild<Call extends string>(module: URL, args: string[], what: string): Child<Call> {
  let next = 0;
  let stderr = "";
  const child = fork(module, args, { stdio: ["ignore", "ignore", "pipe", "ipc"] });
  child.stderr!.on("data", (chunk: Buffer) => void (stderr = (stderr + chunk.toString()).slice(-4000)));
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  child.on("message", ({ id, result, error }: { id: number; result?: unknown; error?: string }) => {
    const call = pending.get(id)!;
    pending.delete(id);
    if (error === undefined) call.resolve(result);
    else call.reject(new Error(error));
  });
  const died = new Promise<ChildDied>((resolve) => child.on("exit", (code, signal) => resolve(new ChildDied(what, signal ?? `exit code ${code}`, stderr))));
  void died.then((error) => {
    for (const call of pending.values()) call.reject(error);
    pending.clear();
  });
  const request = <T>(call: Call, ...args: unknown[]) =>
    new Promise<T>((resolve, reject) => {
      if (child.exitCode !== null || child.signalCode !== null) return reject(new ChildDied(what, "gone", stderr));
      const id = next++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ id, call, args } satisfies ChildRequest);
    });
  return { request, died };
}
