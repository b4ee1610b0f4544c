// The chat page in a real headless browser: Debian's chromium driven by playwright-core.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page, type Request, type Response } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DemoModel } from "../../app/models/demo.js";
import { request, say, startTestApp, type TestApp } from "./support/in-process-app.js";
import { startStreamCutter, type StreamCutter } from "./support/stream-cutter.js";
import { isCI } from "../support/ci.js";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = join(tmpdir(), "chat-page.png");
// CI installs chromium: there, a missing browser must fail the run rather than skip it.
const skip = !existsSync(CHROMIUM) && !isCI();
// A message of 34 words the demo model echoes word by word: long enough to act mid-reply.
const LONG =
  "Tell me a long story about a quiet harbour town where the boats come home at dusk and the old keeper counts every one of them before the lamps are lit for the night";
// The demo model's reply to a message, the user's `n`th in its thread.
const echo = (text: string, n: number) => `"${text}" (#${n})`;
// In every page: each text the streaming reply bubble shows, in order, in `window.streamed`.
const RECORD_STREAMED = `
  window.streamed = [];
  new MutationObserver(() => {
    const text = document.querySelector("#messages li.streaming p")?.textContent;
    if (text !== undefined && text !== window.streamed.at(-1)) window.streamed.push(text);
  }).observe(document, { subtree: true, childList: true, characterData: true });
`;

describe.skipIf(skip)("chat page in headless chromium", () => {
  let app: TestApp;
  // Slower words, so a test can act mid-reply; reached directly, or through a proxy that drops streams.
  let slow: TestApp;
  let cutter: StreamCutter;
  let profile: string;
  let browser: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    // Slow enough per word that the page is seen mid-stream.
    app = await startTestApp({ model: new DemoModel({ tokenDelayMs: 25 }) });
    await say(app.url, "seeded-thread", "My name is Alex");
    slow = await startTestApp({ model: new DemoModel({ tokenDelayMs: 40 }) });
    cutter = await startStreamCutter(slow.url);
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
    await browser.addInitScript(RECORD_STREAMED);
    page = browser.pages()[0] ?? (await browser.newPage());
    // Uncaught exceptions in the page's script (HTTP errors are the API's answers, not page errors).
    page.on("pageerror", (error) => pageErrors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await cutter?.close();
    await slow?.stop();
    await app?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  // A reply shows while it streams; once saved, the page reloads the thread as stored and only
  // then enables Send again (the streaming bubble goes as the reload starts, before it ends).
  const turnSaved = async () => {
    await page.locator("#messages li.streaming").waitFor({ state: "detached" });
    await page.locator("#send:enabled").waitFor();
  };
  // Some of the reply in its streaming bubble, not all of it yet.
  const partOf = async (reply: string) => {
    const expression = `(() => {
      const text = document.querySelector("#messages li.streaming p")?.textContent ?? "";
      return text.length > 0 && text.length < ${reply.length} && text;
    })()`;
    return (await (await page.waitForFunction(expression)).jsonValue()) as string;
  };
  // What the streaming bubble showed in this page, each text after the one before.
  const streamed = async () => (await page.evaluate("window.streamed")) as string[];
  // The requests the page makes to the turn routes while `run` runs.
  const turnRequests = async (run: () => Promise<void>) => {
    const seen: Request[] = [];
    const onRequest = (r: Request) => void (/\/(messages|events|cancel)$/.test(new URL(r.url()).pathname) && seen.push(r));
    page.on("request", onRequest);
    try {
      await run();
    } finally {
      page.off("request", onRequest);
    }
    return Promise.all(seen.map(async (r) => ({ method: r.method(), path: new URL(r.url()).pathname, headers: await r.allHeaders() })));
  };
  const storedMessages = async (baseUrl: string, threadId: string) =>
    ((await request(baseUrl, "GET", `/threads/${threadId}`)).body.messages as { role: string; content: string }[]).map((m) => [m.role, m.content]);
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

  it("sends every message with an Idempotency-Key of its own", async () => {
    await page.goto(app.url);
    await page.locator("#new-thread").click();
    await page.locator("#empty").waitFor();
    const requests = await turnRequests(async () => {
      for (const content of ["first words", "second words"]) {
        await page.locator("#message").fill(content);
        await page.locator("#send").click();
        await page.locator("#messages li.assistant", { hasText: content }).waitFor();
        await turnSaved();
      }
    });
    expect(requests.map((r) => `${r.method} ${r.path.replace(/^\/threads\/[^/]+/, "")}`)).toEqual(["POST /messages", "POST /messages"]);
    const keys = requests.map((r) => r.headers["idempotency-key"]);
    for (const key of keys) expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect(keys[0]).not.toBe(keys[1]);
  });

  it("retries a send whose answer never came with the same key: the message is stored once", async () => {
    const threadId = "answer-lost";
    await page.goto(`${slow.url}/#${threadId}`);
    await page.locator("#empty").waitFor();
    // The first POST reaches the app, which runs its turn to the end; the page never hears of it.
    let lost = false;
    await page.route(
      (url) => url.pathname === `/threads/${threadId}/messages`,
      async (route) => {
        if (lost) return route.fallback();
        lost = true;
        await route.fetch();
        await route.abort("connectionreset");
      },
    );
    const replayed: (string | null)[] = [];
    const onResponse = async (response: Response) => {
      if (response.url().endsWith("/messages")) replayed.push(await response.headerValue("idempotent-replayed"));
    };
    page.on("response", onResponse);
    try {
      const requests = await turnRequests(async () => {
        await page.locator("#message").fill("say this once");
        await page.locator("#send").click();
        await page.locator("#messages li.assistant", { hasText: echo("say this once", 1) }).waitFor();
        await turnSaved();
      });
      expect(requests.map((r) => r.method)).toEqual(["POST", "POST"]);
      expect(requests[1]!.headers["idempotency-key"]).toBe(requests[0]!.headers["idempotency-key"]);
      expect(replayed).toEqual(["true"]);
    } finally {
      page.off("response", onResponse);
      await page.unrouteAll();
    }
    expect(await storedMessages(slow.url, threadId)).toEqual([
      ["user", "say this once"],
      ["assistant", echo("say this once", 1)],
    ]);
    expect(await messages()).toEqual(["Yousay this once", `Assistant${echo("say this once", 1)}`]);
  });

  it("shows the whole reply after a reload mid-reply, and stores the message once", async () => {
    const threadId = "reloaded-mid-reply";
    const reply = echo(LONG, 1);
    await page.goto(`${slow.url}/#${threadId}`);
    await page.locator("#empty").waitFor();
    const requests = await turnRequests(async () => {
      await page.locator("#message").fill(LONG);
      await page.locator("#send").click();
      await partOf(reply);
      await page.reload();
      // The new page reads the turn from its first event: the bubble grows to the whole reply.
      await page.waitForFunction(`window.streamed.at(-1) === ${JSON.stringify(reply)}`);
      await turnSaved();
    });
    // The message was sent once; the new page resumed its turn from the start.
    expect(requests.map((r) => r.method)).toEqual(["POST", "GET"]);
    expect(requests[1]!.path).toMatch(new RegExp(`^/threads/${threadId}/turns/[^/]+/events$`));
    expect(requests[1]!.headers["last-event-id"]).toBe("0");
    expect(await streamed()).toEqual(expect.arrayContaining([reply]));
    expect(await messages()).toEqual([`You${LONG}`, `Assistant${reply}`]);
    expect(await storedMessages(slow.url, threadId)).toEqual([
      ["user", LONG],
      ["assistant", reply],
    ]);
    expect(await page.evaluate("sessionStorage.length")).toBe(0);
    expect(pageErrors).toEqual([]);
  });

  it("goes on with the reply after its connection drops, with no word shown twice or missed", async () => {
    const threadId = "dropped-mid-reply";
    const reply = echo(LONG, 1);
    await page.goto(`${cutter.url}/#${threadId}`);
    await page.locator("#empty").waitFor();
    const requests = await turnRequests(async () => {
      await page.locator("#message").fill(LONG);
      await page.locator("#send").click();
      await partOf(reply);
      expect(cutter.cutStreams()).toBe(1);
      await page.waitForFunction(`window.streamed.at(-1) === ${JSON.stringify(reply)}`);
      await turnSaved();
    });
    // The same bubble went on from where it was: every text it showed begins the next one.
    const shown = await streamed();
    for (let i = 1; i < shown.length; i++) expect(shown[i]!.startsWith(shown[i - 1]!)).toBe(true);
    expect(shown.at(-1)).toBe(reply);
    // Resumed after the last event seen, not sent again.
    expect(requests.map((r) => r.method)).toEqual(["POST", "GET"]);
    expect(Number(requests[1]!.headers["last-event-id"])).toBeGreaterThan(1);
    expect(await messages()).toEqual([`You${LONG}`, `Assistant${reply}`]);
    expect(await storedMessages(slow.url, threadId)).toEqual([
      ["user", LONG],
      ["assistant", reply],
    ]);
    expect(await page.locator("#error").isHidden()).toBe(true);
    expect(pageErrors).toEqual([]);
  });

  it("stops a reply: nothing of the turn is saved, and Send is enabled again", async () => {
    const threadId = "stopped-mid-reply";
    await say(slow.url, threadId, "hello there");
    const before = await storedMessages(slow.url, threadId);
    await page.goto(`${slow.url}/#${threadId}`);
    await page.locator("#messages li.assistant").first().waitFor();
    expect(await page.locator("#stop").isHidden()).toBe(true);
    const requests = await turnRequests(async () => {
      await page.locator("#message").fill(LONG);
      await page.locator("#send").click();
      await partOf(echo(LONG, 2));
      await page.getByRole("button", { name: "Stop the reply" }).click();
      await page.locator("#notice", { hasText: "Stopped" }).waitFor();
      await page.locator("#send:enabled").waitFor();
    });
    expect(requests.map((r) => `${r.method} ${r.path.split("/").at(-1)}`)).toEqual(["POST messages", "POST cancel"]);
    // Quietly: no error, the thread as stored, the message back in the box to edit or send again.
    expect(await page.locator("#error").isHidden()).toBe(true);
    expect(await page.locator("#stop").isHidden()).toBe(true);
    expect(await messages()).toHaveLength(2);
    expect(await page.locator("#message").inputValue()).toBe(LONG);
    expect(await storedMessages(slow.url, threadId)).toEqual(before);
    expect(pageErrors).toEqual([]);
  });
});
