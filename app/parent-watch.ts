/**
 * Calls `onOrphaned` once, with the old parent's pid, when this process's parent pid is no longer
 * `parent` (by default the parent it has now): the parent exited and the process was re-parented.
 * Checks every `intervalMs`; the timer never keeps the process alive. Returns a function that stops
 * watching.
 *
 * Why: `npm start` runs the app under `sh -c`, and npm passes SIGTERM and SIGINT to that shell,
 * not to the app. Debian's and Ubuntu's sh (dash) then exits without passing the signal on, and the
 * app would keep serving, re-parented to PID 1: `kill <pid of npm>`, or a tool that stops npm so,
 * would leave it running.
 */
export function watchParent(
  onOrphaned: (parentPid: number) => void,
  { parent = process.ppid, intervalMs = 1_000 }: { parent?: number; intervalMs?: number } = {},
): () => void {
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onOrphaned(parent);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
