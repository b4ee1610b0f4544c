// The chat page in a real headless browser: Debian's chromium driven by playwright-core.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DemoModel } from "../../app/models/demo.js";
import { request, say, startTestApp, type TestApp } from "./support/in-process-app.js";
import { isCI } from "../support/ci.js";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = join(tmpdir(), "chat-page.png");
// CI installs chromium: there, a missing browser must fail the run rather than skip it.
const skip = !existsSync(CHROMIUM) && !isCI();

describe.skipIf(skip)("chat page in headless chromium", () => {
  let app: TestApp;
  let profile: string;
  let browser: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    // Slow enough per word that the page is seen mid-stream.
    app = await startTestApp({ model: new DemoModel({ tokenDelayMs: 25 }) });
    await say(app.url, "seeded-thread", "My name is Alex");
    profile = mkdtempSync(join(tmpdir(), "chromium-profile-"));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1200, height: 760 },
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    // Uncaught exceptions in the page's script (HTTP errors are the API's answers, not page errors).
    page.on("pageerror", (error) => pageErrors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  // A reply shows while it streams; once saved, the page reloads the thread as stored and only
  // then enables Send again (the streaming bubble goes as the reload starts, before it ends).
  const turnSaved = async () => {
    await page.locator("#messages li.streaming").waitFor({ state: "detached" });
    await page.locator("#send:enabled").waitFor();
  };
  // Each message's text without its action buttons.
  const messages = () =>
    page.locator("#messages li").evaluateAll((items) => items.map((li) => [...li.children].filter((c) => !c.matches(".actions")).map((c) => c.textContent).join("")));

  it("lists threads, shows a conversation, sends a message and forks the thread", async () => {
    await page.goto(app.url);
    await page.locator("#health", { hasText: "store: memory · ok" }).waitFor();

    // The thread list shows the seeded conversation by its title; opening it shows the history.
    const seeded = page.locator("#threads a", { hasText: "My name is Alex" });
    await seeded.waitFor();
    expect(await seeded.textContent()).toContain("seeded-thread");
    await seeded.click();
    await page.locator("#thread-id", { hasText: "seeded-thread" }).waitFor();
    await page.locator("#messages li.assistant").first().waitFor();
    expect(await messages()).toEqual(["YouMy name is Alex", expect.stringMatching(/^AssistantNice to meet you, Alex!/)]);

    // Send with Enter; the reply appears.
    await page.locator("#message").fill("Who am I?");
    await page.locator("#message").press("Enter");
    await page.locator("#messages li.assistant", { hasText: "You are Alex" }).waitFor();
    await turnSaved();
    expect(await messages()).toHaveLength(4);

    // Fork: the page switches to the new thread, which has the whole history, and lists it.
    await page.locator("#fork-to").fill("forked-thread");
    await page.locator("#fork-form button").click();
    await page.locator("#thread-id", { hasText: "forked-thread" }).waitFor();
    await page.locator("#threads a", { hasText: "forked-thread" }).waitFor();
    expect(await messages()).toHaveLength(4);
    const fork = await request(app.url, "GET", "/threads/forked-thread");
    expect(fork.body.messages).toHaveLength(4);

    // The fork diverges; the original does not change.
    await page.locator("#message").fill("My name is Sam");
    await page.locator("#send").click();
    await page.locator("#messages li.assistant", { hasText: "Nice to meet you, Sam" }).waitFor();
    await turnSaved();
    expect((await request(app.url, "GET", "/threads/seeded-thread")).body.messages).toHaveLength(4);
    expect((await request(app.url, "GET", "/threads/forked-thread")).body.messages).toHaveLength(6);
  });

  it("starts a new conversation and shows the tool steps of a calculation", async () => {
    await page.locator("#new-thread").click();
    await page.locator("#empty").waitFor();
    const threadId = await page.locator("#thread-id").textContent();
    expect(threadId).toMatch(/^chat-/);

    await page.locator("#message").fill("Calculate (2+3)*4");
    await page.locator("#send").click();
    await page.locator("#messages li.assistant", { hasText: "(2+3)*4 = 20" }).waitFor();
    await turnSaved();
    expect(await messages()).toEqual([
      "YouCalculate (2+3)*4",
      'callscalculator({"expression":"(2+3)*4"})',
      "calculator →(2+3)*4 = 20",
      expect.stringContaining("(2+3)*4 = 20 (worked out with the calculator tool)."),
    ]);
    await page.locator("#threads a", { hasText: threadId! }).waitFor();
    await page.screenshot({ path: SCREENSHOT });
  });

  it("shows API errors to the user (forking onto an existing thread), and the script never threw", async () => {
    await page.locator("#fork-to").fill("seeded-thread");
    await page.locator("#fork-form button").click();
    await page.locator("#error", { hasText: "already exists" }).waitFor();
    expect(pageErrors).toEqual([]);
    // The browser logs the 409 itself; no other request failed along the way.
    expect(consoleErrors).toEqual([expect.stringContaining("409")]);
  });

  it("deletes a thread after confirmation", async () => {
    await page.goto(`${app.url}/#forked-thread`);
    await page.locator("#messages li.assistant").first().waitFor();
    page.once("dialog", (dialog) => void dialog.accept());
    await page.locator("#delete-thread").click();
    await page.locator("#thread-id", { hasText: /^chat-/ }).waitFor();
    await page.locator("#threads a", { hasText: "forked-thread" }).waitFor({ state: "detached" });
    expect((await request(app.url, "GET", "/threads/forked-thread")).status).toBe(404);
  });

  it("shows the reply while it streams, then the turn as stored", async () => {
    await page.locator("#new-thread").click();
    await page.locator("#empty").waitFor();
    await page.locator("#message").fill("My name is Robin");
    await page.locator("#message").press("Enter");
    // Some words of the reply, while it is still being written.
    const partial = (await (await page.waitForFunction('document.querySelector("#messages li.streaming p")?.textContent')).jsonValue()) as string;
    await turnSaved();
    const final = (await messages()).at(-1)!;
    expect(final).toMatch(/^Assistant.*Nice to meet you, Robin!/);
    expect(final.startsWith(`Assistant${partial}`)).toBe(true);
    expect(partial.length).toBeLessThan(final.length - "Assistant".length);
  });

  it("branches from a message: a new conversation whose history ends there", async () => {
    await page.goto(`${app.url}/#seeded-thread`);
    await page.locator("#messages li.assistant", { hasText: "You are Alex" }).waitFor();
    const [first] = (await request(app.url, "GET", "/threads/seeded-thread/checkpoints")).body.checkpoints.slice(-1);
    await page.locator("#messages li").nth(1).getByRole("button", { name: "Branch from here" }).click();
    await page.locator("#thread-id", { hasText: /^chat-/ }).waitFor();
    await page.locator("#messages li").nth(1).waitFor();
    expect(await messages()).toEqual(["YouMy name is Alex", expect.stringMatching(/^Assistant.*Nice to meet you, Alex!/)]);
    const branchId = (await page.locator("#thread-id").textContent())!;
    expect((await request(app.url, "GET", `/threads/${branchId}`)).body.checkpointId).toBe(first.checkpointId);
    expect((await request(app.url, "GET", "/threads/seeded-thread")).body.messages).toHaveLength(4);
  });

  it("edits and resends a message: a branch whose last turn is replaced", async () => {
    await page.goto(`${app.url}/#seeded-thread`);
    await page.locator("#messages li.assistant", { hasText: "You are Alex" }).waitFor();
    const question = page.locator("#messages li.user", { hasText: "Who am I?" });
    await question.getByRole("button", { name: "Edit and resend" }).click();
    await page.getByLabel("Edited message").fill("Call me Kim");
    await page.getByRole("button", { name: "Resend", exact: true }).click();
    await page.locator("#messages li.assistant", { hasText: "Nice to meet you, Kim" }).waitFor();
    await turnSaved();
    const branchId = (await page.locator("#thread-id").textContent())!;
    expect(branchId).toMatch(/^chat-/);
    const users = (await request(app.url, "GET", `/threads/${branchId}`)).body.messages.filter((m: { role: string }) => m.role === "user");
    expect(users.map((m: { content: string }) => m.content)).toEqual(["My name is Alex", "Call me Kim"]);
    expect((await request(app.url, "GET", "/threads/seeded-thread")).body.messages.at(2).content).toBe("Who am I?");
  });

  it("searches conversations and opens a hit", async () => {
    await page.locator("#search-q").fill("Kim");
    await page.locator("#search-form button").click();
    const hit = page.locator("#search-results a");
    await hit.first().waitFor();
    expect(await hit.count()).toBe(1);
    expect(await hit.locator(".meta").textContent()).toContain("Call me Kim");
    await hit.click();
    await page.locator("#messages li.user", { hasText: "Call me Kim" }).waitFor();
    await page.locator("#search-q").fill("zeppelin");
    await page.locator("#search-form button").click();
    await page.locator("#search-results li", { hasText: "No conversation matches." }).waitFor();
  });

  it("lists 50 conversations, and loads older ones on demand", async () => {
    for (let i = 0; i < 50; i++) await say(app.url, `bulk-${String(i).padStart(2, "0")}`, `bulk ${i}`);
    const total = (await request(app.url, "GET", "/threads?limit=100")).body.threads.length;
    expect(total).toBeGreaterThan(50);
    await page.goto(`${app.url}/#bulk-49`);
    await page.locator("#messages li.assistant").first().waitFor();
    await page.locator("#more-threads").waitFor();
    expect(await page.locator("#threads a").count()).toBe(50);
    await page.locator("#more-threads").click();
    await page.locator("#more-threads").waitFor({ state: "hidden" });
    expect(await page.locator("#threads a").count()).toBe(total);
    // The oldest conversation is reachable: the seeded one.
    await page.locator("#threads a", { hasText: "seeded-thread" }).waitFor();
  });

  it("a conversation not saved yet cannot be deleted or forked; /#.. is explained, not a crash", async () => {
    await page.locator("#new-thread").click();
    await page.locator("#empty").waitFor();
    expect(await page.locator("#delete-thread").isDisabled()).toBe(true);
    expect(await page.locator("#fork-submit").isDisabled()).toBe(true);

    await page.goto(`${app.url}/#..`);
    await page.locator("#error", { hasText: "cannot be a conversation id" }).waitFor();
    await page.locator("#thread-id", { hasText: /^chat-/ }).waitFor();
    expect(pageErrors).toEqual([]);
  });

  it("asks for the API key when the server wants one, remembers it, and lists that key's threads only", async () => {
    const key = "page-key-0123456789abcdef";
    const other = "other-key-0123456789abcdef";
    const keyed = await startTestApp({ options: { apiKeys: [key, other] } });
    try {
      await request(keyed.url, "POST", "/threads/mine/messages", { content: "My name is Alex" }, { authorization: `Bearer ${key}` });
      await request(keyed.url, "POST", "/threads/theirs/messages", { content: "not for you" }, { authorization: `Bearer ${other}` });
      await page.goto(keyed.url);
      await page.locator("#key-form").waitFor();
      await page.locator("#error", { hasText: "API key" }).waitFor();
      // Its placeholder fits in the field.
      // In the page (this file is type-checked without the DOM library): text width minus room.
      const overflow = await page.evaluate(`(() => {
        const input = document.getElementById("api-key");
        const style = getComputedStyle(input);
        const context = document.createElement("canvas").getContext("2d");
        context.font = style.fontSize + " " + style.fontFamily;
        const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
        return context.measureText(input.placeholder).width - room;
      })()`);
      expect(overflow).toBeLessThanOrEqual(0);

      await page.locator("#api-key").fill(key);
      await page.locator("#key-form button").click();
      await page.locator("#threads a", { hasText: "mine" }).click();
      await page.locator("#messages li.assistant", { hasText: "Alex" }).waitFor();
      await page.locator("#message").fill("Who am I?");
      await page.locator("#send").click();
      await page.locator("#messages li.assistant", { hasText: "You are Alex" }).waitFor();
      await turnSaved();

      await page.reload();
      await page.locator("#threads a", { hasText: "mine" }).waitFor();
      expect(await page.locator("#threads a").allTextContents()).toEqual([expect.stringContaining("mine")]);
      expect(await page.locator("#error").isHidden()).toBe(true);
      expect(pageErrors).toEqual([]);
    } finally {
      await keyed.stop();
    }
  });
});
