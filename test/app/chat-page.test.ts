// The chat page in a real headless browser: Debian's chromium driven by playwright-core.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request, say, startTestApp, type TestApp } from "./support/in-process-app.js";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = join(tmpdir(), "chat-page.png");
// CI installs chromium: there, a missing browser must fail the run rather than skip it.
const skip = !existsSync(CHROMIUM) && process.env.CI !== "true";

describe.skipIf(skip)("chat page in headless chromium", () => {
  let app: TestApp;
  let profile: string;
  let browser: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    app = await startTestApp();
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

  const messages = () => page.locator("#messages li").allTextContents();

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
    expect(await messages()).toEqual(["YouMy name is Alex", expect.stringMatching(/^AssistantHi! I'm the offline demo model.*Nice to meet you, Alex!/)]);

    // Send with Enter; the reply appears.
    await page.locator("#message").fill("Who am I?");
    await page.locator("#message").press("Enter");
    await page.locator("#messages li.assistant", { hasText: "You are Alex" }).waitFor();
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

      await page.locator("#api-key").fill(key);
      await page.locator("#key-form button").click();
      await page.locator("#threads a", { hasText: "mine" }).click();
      await page.locator("#messages li.assistant", { hasText: "Alex" }).waitFor();
      await page.locator("#message").fill("Who am I?");
      await page.locator("#send").click();
      await page.locator("#messages li.assistant", { hasText: "You are Alex" }).waitFor();

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
