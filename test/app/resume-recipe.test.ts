// docs/api.md's "Streaming and resuming" recipe, run as written (only the host changed): a client
// that hangs up mid-reply, a resume after event 3, and a retry with the same Idempotency-Key.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DemoModel } from "../../app/models/demo.js";
import { REPO } from "./support/app-process.js";
import { parseEvents } from "./support/event-stream.js";
import { request, startTestApp, type TestApp } from "./support/in-process-app.js";

const run = promisify(execFile);

describe("docs/api.md: resuming a turn and retrying it with its key", () => {
  const docs = readFileSync(join(REPO, "docs/api.md"), "utf8");
  const section = docs.slice(docs.indexOf("## Streaming and resuming"), docs.indexOf("## Search"));
  const recipe = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  let app: TestApp;
  // 400 ms a word: the recipe's client (curl -m 1) hangs up mid-reply.
  beforeAll(async () => (app = await startTestApp({ model: new DemoModel({ tokenDelayMs: 400 }) })));
  afterAll(() => app.stop());

  it("runs as written: the resume has the rest of the reply, the retry the same reply, and the message is stored once", async () => {
    expect(recipe).toContain("Last-Event-ID");
    const script = `set -eu\n${recipe.replaceAll("http://localhost:3000", app.url)}`;
    const { stdout } = await run("bash", ["-c", script], { timeout: 30_000 });
    // The three answers back to back: the cut stream, the resumed one, then the retry's JSON.
    const retry = JSON.parse(stdout.slice(stdout.lastIndexOf('{"threadId"')));
    const events = parseEvents(stdout.slice(0, stdout.lastIndexOf('{"threadId"')));
    const done = events.filter((e) => e.event === "done");
    // The first stream was cut before its end; the resume ended the turn.
    expect(done).toHaveLength(1);
    expect(done[0]!.data).toEqual(retry);
    const thread = await request(app.url, "GET", "/threads/user-7");
    expect(thread.body.messages).toEqual([
      { role: "user", content: "tell me about the sea" },
      { role: "assistant", content: retry.reply.content },
    ]);
    expect(thread.body.checkpointId).toBe(retry.checkpointId);
  });
});
