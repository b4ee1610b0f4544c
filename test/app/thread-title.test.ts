import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request, say, startTestApp, type TestApp } from "./support/in-process-app.js";

// Issue 21, item 5: the title was cut with slice(0, 80), through the surrogate pair of an emoji at
// character 80, and the save was refused as invalid Unicode.
describe("thread title (memory checkpointer, demo model)", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.stop());

  it.each([
    ["an emoji straddling the 80th character", "x".repeat(79) + "🧵 and more", "x".repeat(79) + "🧵"],
    ["an emoji just past it", "x".repeat(80) + "🧵", "x".repeat(80)],
    ["a ZWJ family across it", "x".repeat(78) + "👩‍👩‍👧‍👦 hello", "x".repeat(78)],
  ])("a first message with %s is saved, titled by whole characters", async (_label, content, title) => {
    const threadId = `title-${title.length}-${content.length}`;
    const sent = await say(app.url, threadId, content);
    expect(sent.status).toBe(200);
    const listed = await request(app.url, "GET", `/threads?prefix=${threadId}`);
    const saved: string = listed.body.threads[0].metadata.title;
    expect(saved).toBe(title);
    // In a /u pattern a pair is one code point: \p{Cs} matches only a lone surrogate.
    expect(saved).not.toMatch(/\p{Cs}/u);
  });
});
