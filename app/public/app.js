// The chat page: plain browser JavaScript against the JSON API, no build step.
const $ = (id) => document.getElementById(id);
const path = (threadId, suffix = "") => `/threads/${encodeURIComponent(threadId)}${suffix}`;
// The API key, when the server has API_KEYS. Kept in this browser only; the page never writes it into the DOM.
const KEY_STORAGE = "agent-chat-api-key";
const apiKey = () => localStorage.getItem(KEY_STORAGE) ?? "";
// The turn this tab is waiting for, kept across a reload so the page can pick its reply up again.
const TURN_STORAGE = "agent-chat-pending-turn";
// Reconnecting after a dropped stream: the first pause, doubling up to the longest, and when to give up
// (counted from the last event received).
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 5_000;
const GIVE_UP_MS = 60_000;
// Conversations per page of the sidebar (the API's default); older ones load on demand.
const THREADS_PAGE = 50;
// The checkpoints a page looks at to offer "branch from here" and "edit and resend".
const CHECKPOINTS_PAGE = 100;

let currentThread = null;
// Where the sidebar's next page starts; null when every conversation is listed.
let olderThreads = null;
// The open thread's checkpoints, newest first, each with the number of messages it holds.
let checkpoints = [];
// The turn on its way, if any: { turn, view } (see followTurn).
let active = null;

function threadFromHash() {
  if (location.hash.length <= 1) return null;
  try {
    return decodeURIComponent(location.hash.slice(1));
  } catch {
    return null; // not percent-encoded UTF-8: no thread of ours
  }
}

// Not crypto.randomUUID(): that needs a secure context, and the page may be served over plain http.
function newThreadId() {
  return `chat-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

// An Idempotency-Key for one message: 128 random bits in hex. Not crypto.randomUUID() either (secure contexts only).
function newIdempotencyKey() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function requestHeaders(extra = {}) {
  const headers = { ...extra };
  if (apiKey()) headers.authorization = `Bearer ${apiKey()}`;
  return headers;
}

/** The error of a response that is not the expected success. */
async function failure(response) {
  if (response.status === 401) $("key-form").hidden = false; // the server wants a (different) key
  const data = await response.json().catch(() => ({}));
  const error = new Error(data.error?.message ?? `${response.status} ${response.statusText}`);
  error.status = response.status;
  return error;
}

async function api(method, url, body) {
  const headers = requestHeaders(body ? { "content-type": "application/json" } : {});
  const response = await fetch(url, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return null;
  if (!response.headers.get("content-type")?.startsWith("application/json")) throw new Error(`${url} did not answer with JSON`);
  return response.json();
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A connection that failed or broke off (marked where fetch and its body reader fail, so that a
// slip in this script is not taken for one).
function lostConnection(error) {
  error.lostConnection = true;
  throw error;
}

// A failure worth another try: the connection, a busy or restarting server.
function retryable(error) {
  return error.lostConnection === true || error.status === 429 || error.status >= 500;
}

/** The events of a text/event-stream response as { id, event, data }, until it ends. */
async function* serverEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read().catch(lostConnection);
      if (done) return;
      buffer += value;
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = {};
        for (const line of block.split("\n")) {
          const colon = line.indexOf(":");
          if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, ""); // ":" alone: a comment
        }
        const id = fields.id === undefined ? null : Number(fields.id);
        if (fields.event) yield { id, event: fields.event, data: JSON.parse(fields.data ?? "null") };
      }
    }
  } finally {
    reader.cancel().catch(() => {}); // a consumer that stopped early hangs up
  }
}

/**
 * The turn's event stream: the message POSTed with its key when the turn is not known yet (a repeat
 * with the same key gets the same turn, from its first event), else its events after the last one seen.
 */
async function openTurnStream(turn) {
  const resume = turn.turnId !== null;
  const response = resume
    ? await fetch(path(turn.threadId, `/turns/${encodeURIComponent(turn.turnId)}/events`), {
        headers: requestHeaders({ accept: "text/event-stream", "last-event-id": String(turn.lastEventId) }),
      }).catch(lostConnection)
    : await fetch(path(turn.threadId, "/messages"), {
        method: "POST",
        headers: requestHeaders({ "content-type": "application/json", accept: "text/event-stream", "idempotency-key": turn.key }),
        body: JSON.stringify({ content: turn.content }),
      }).catch(lostConnection);
  if (response.ok && response.headers.get("content-type")?.startsWith("text/event-stream")) return response;
  const error = await failure(response);
  error.unknownTurn = resume && response.status === 404;
  throw error;
}

/**
 * Follows a turn to its end, reconnecting after a drop, and hands its events to `view` once each.
 * Resolves with the `done` data, or { cancelled: true } when it was stopped; throws the turn's
 * error, or the connection's after GIVE_UP_MS without an event.
 */
async function streamTurn(turn, view) {
  let delay = RETRY_FIRST_MS;
  let heard = Date.now();
  let reran = false;
  for (;;) {
    let received = 0;
    let again = false; // try again at once, not after a pause
    let lost = new Error("the reply's connection ended before the reply did");
    try {
      if (turn.turnId === null) {
        // The turn's events come from its first again: the bubble starts afresh.
        turn.lastEventId = 0;
        view.reset();
      }
      const response = await openTurnStream(turn);
      for await (const { id, event, data } of serverEvents(response)) {
        if (id !== null && id <= turn.lastEventId) continue; // shown already
        if (received++ === 0) view.notice(null);
        if (event === "done") return data;
        if (event === "error") {
          if (data.error.code === "CANCELLED") return { cancelled: true };
          // Its replica died: a repeat of the key runs it again, once.
          if (data.error.code === "INTERRUPTED" && !reran) {
            reran = again = true;
            turn.turnId = null;
            view.notice("The server working on this reply stopped; trying again…");
            break;
          }
          throw new Error(data.error.message);
        }
        if (event === "turn") view.started((turn.turnId = data.turnId));
        else view[event]?.(data);
        if (id !== null) turn.lastEventId = id;
        rememberTurn(turn);
      }
    } catch (error) {
      if (!error.unknownTurn && !retryable(error)) throw error;
      lost = error;
      // A turn this server does not know (its events expired, say): ask again with the key.
      if (error.unknownTurn) [turn.turnId, again] = [null, true];
    }
    if (received > 0) {
      heard = Date.now();
      delay = RETRY_FIRST_MS;
    }
    if (again) continue;
    if (Date.now() - heard > GIVE_UP_MS) throw new Error(`lost the connection to the server: ${lost.message}`);
    view.notice("Connection lost; reconnecting…");
    await sleep(delay);
    delay = Math.min(delay * 2, RETRY_MAX_MS);
  }
}

function showError(error) {
  $("error").textContent = error ? error.message : "";
  $("error").hidden = !error;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(className, text, onClick) {
  const node = element("button", className, text);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

function messageItem(message) {
  const item = element("li", `message ${message.role}`);
  if (message.role === "tool") {
    item.append(element("span", "label", `${message.name} →`), element("span", "", message.content));
  } else if (message.toolCalls) {
    const calls = message.toolCalls.map((c) => `${c.name}(${c.arguments})`).join(", ");
    item.classList.add("tool-call");
    item.append(element("span", "label", "calls"), element("span", "", calls));
  } else {
    item.append(element("span", "label", message.role === "user" ? "You" : "Assistant"), element("p", "", message.content));
  }
  return item;
}

function renderMessage(message) {
  const item = messageItem(message);
  $("messages").append(item);
  item.scrollIntoView({ block: "end" });
  return item;
}

// The first checkpoint that holds the message at `index`, and the last one before it.
const checkpointWith = (index) => checkpoints.findLast((c) => c.metadata.messages > index)?.checkpointId;
const checkpointBefore = (index) => checkpoints.find((c) => c.metadata.messages <= index)?.checkpointId;

/**
 * "Branch from here" on every message, "edit and resend" on the user's, where a checkpoint allows.
 * Tool steps have none: they belong to the turn of the reply after them.
 */
function addActions(item, message, index) {
  if (message.role === "tool" || message.toolCalls) return;
  const actions = element("span", "actions");
  const at = checkpointWith(index);
  if (at) actions.append(button("link", "Branch from here", () => void branch(at).catch(showError)));
  const before = index === 0 ? "start" : checkpointBefore(index);
  if (message.role === "user" && before) actions.append(button("link", "Edit and resend", () => editMessage(item, message, before)));
  if (actions.children.length > 0) item.append(actions);
}

async function branch(checkpointId) {
  const to = newThreadId();
  await api("POST", path(currentThread, "/fork"), { to, checkpointId });
  await openThread(to);
}

// `before`: the checkpoint the edited message follows, or "start" for the first message.
function editMessage(item, message, before) {
  const form = element("form", "edit-form");
  const text = element("textarea");
  text.value = message.content;
  text.setAttribute("aria-label", "Edited message");
  const resend = element("button", "primary", "Resend");
  resend.type = "submit";
  form.append(text, resend, button("", "Cancel", () => void openThread(currentThread)));
  item.replaceChildren(form);
  text.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const content = text.value.trim();
    if (!content) return;
    try {
      // A branch that ends before this message, then the edited message as its next turn.
      const to = newThreadId();
      if (before !== "start") await api("POST", path(currentThread, "/fork"), { to, checkpointId: before });
      await openThread(to, { isNew: before === "start" });
      await send(content);
    } catch (error) {
      showError(error);
    }
  });
}

// Nothing to delete or fork until the first message is saved, nor while a turn is on its way.
function enableThreadActions(enabled) {
  $("delete-thread").disabled = !enabled;
  $("fork-submit").disabled = !enabled;
}

function renderThreadHeader(title, saved) {
  $("thread-title").textContent = title || "New conversation";
  $("thread-id").textContent = currentThread;
  enableThreadActions(saved);
  location.hash = encodeURIComponent(currentThread);
}

function threadItem(thread) {
  const item = element("li");
  const link = element("a", thread.threadId === currentThread ? "active" : "");
  link.href = `#${encodeURIComponent(thread.threadId)}`;
  link.append(
    element("span", "title", thread.metadata.title || thread.threadId),
    element("span", "meta", `${thread.threadId} · ${new Date(thread.updatedAt).toLocaleString()}`),
  );
  item.append(link);
  return item;
}

// The newest page of conversations, or with `older` the next page after those listed.
async function loadThreads({ older = false } = {}) {
  const cursor = older && olderThreads ? `&cursor=${encodeURIComponent(olderThreads)}` : "";
  const { threads, nextCursor } = await api("GET", `/threads?limit=${THREADS_PAGE}${cursor}`);
  olderThreads = nextCursor;
  if (older) $("threads").append(...threads.map(threadItem));
  else $("threads").replaceChildren(...threads.map(threadItem));
  $("more-threads").hidden = nextCursor === null;
  $("no-threads").hidden = $("threads").children.length > 0;
}

// `isNew`: an id just made up here, so there is nothing to fetch yet.
async function openThread(threadId, { isNew = false } = {}) {
  currentThread = threadId;
  showError(null);
  showNotice(null);
  $("messages").replaceChildren();
  checkpoints = [];
  let title = "";
  let saved = false;
  if (!isNew) {
    try {
      const [thread, history] = await Promise.all([
        api("GET", path(threadId)),
        api("GET", path(threadId, `/checkpoints?limit=${CHECKPOINTS_PAGE}`)),
      ]);
      checkpoints = history.checkpoints;
      thread.messages.forEach((message, index) => addActions(renderMessage(message), message, index));
      title = thread.messages.find((m) => m.role === "user")?.content ?? "";
      saved = true;
    } catch (error) {
      if (error.status !== 404) showError(error); // 404: a conversation that starts with its first message
    }
  }
  // The turn on its way here, if any, below the stored ones; the thread is not to be forked or deleted under it.
  if (active?.turn.threadId === threadId) $("messages").append(...active.view.items());
  $("empty").hidden = $("messages").children.length > 0;
  renderThreadHeader(title, saved && active?.turn.threadId !== threadId);
  await loadThreads();
}

function showNotice(text) {
  $("notice").textContent = text ?? "";
  $("notice").hidden = !text;
}

// The turn on its way, in this tab's session storage: a reload picks it up again.
const rememberTurn = (turn) => sessionStorage.setItem(TURN_STORAGE, JSON.stringify(turn));
const forgetTurn = () => sessionStorage.removeItem(TURN_STORAGE);

/** The turn a reload cut off, if any, to be read from its first event again (the whole reply shows). */
function pendingTurn() {
  let turn = null;
  try {
    turn = JSON.parse(sessionStorage.getItem(TURN_STORAGE) ?? "null");
  } catch {
    // not ours to read: none
  }
  if (typeof turn?.threadId !== "string" || typeof turn.key !== "string" || typeof turn.content !== "string") return null;
  return { threadId: turn.threadId, turnId: typeof turn.turnId === "string" ? turn.turnId : null, key: turn.key, content: turn.content, lastEventId: 0 };
}

/**
 * The user's message and the reply bubble of a turn on its way. They are kept here, not only in the
 * list, so that opening another thread and coming back shows them again (see openThread).
 */
function turnView(turn) {
  const user = messageItem({ role: "user", content: turn.content });
  const reply = messageItem({ role: "assistant", content: "" });
  reply.classList.add("streaming");
  const text = reply.querySelector("p");
  let steps = [];
  return {
    items: () => [user, ...steps, reply],
    // The turn's events start over (a new POST): nothing shown of them yet, and no turn to stop.
    reset() {
      for (const item of steps) item.remove();
      steps = [];
      text.textContent = "";
      $("stop").disabled = true;
    },
    started: () => ($("stop").disabled = false),
    // Text written alongside tool calls comes before them: a tool step starts the reply afresh.
    tool(step) {
      const items = [messageItem({ role: "assistant", content: "", toolCalls: [step] }), messageItem({ role: "tool", name: step.name, content: step.result })];
      steps.push(...items);
      if (reply.isConnected) reply.before(...items);
      text.textContent = "";
    },
    token({ text: piece }) {
      text.textContent += piece;
      if (reply.isConnected) reply.scrollIntoView({ block: "end" });
    },
    notice: (message) => currentThread === turn.threadId && showNotice(message),
    // A failed turn: its message stays in sight, above the error.
    fail() {
      for (const item of [...steps, reply]) item.remove();
    },
  };
}

function setStreaming(streaming, turn) {
  $("send").disabled = streaming;
  $("stop").hidden = !streaming;
  $("stop").disabled = !turn?.turnId;
}

/**
 * Shows a turn (a message just sent, or one a reload cut off) as it streams, then the thread as
 * stored; a stopped turn leaves the thread as it was and gives the message back to edit.
 */
async function followTurn(turn) {
  const saved = !$("delete-thread").disabled;
  const view = turnView(turn);
  active = { turn, view };
  rememberTurn(turn);
  setStreaming(true, turn);
  showError(null);
  showNotice(null);
  if (currentThread === turn.threadId) {
    enableThreadActions(false);
    $("empty").hidden = true;
    $("messages").append(...view.items());
    view.items().at(-1).scrollIntoView({ block: "end" });
  }
  try {
    const outcome = await streamTurn(turn, view);
    forgetTurn();
    active = null;
    if (currentThread !== turn.threadId) await loadThreads();
    else await openThread(turn.threadId); // the turn exactly as stored, with its checkpoint's actions
    if (outcome.cancelled && currentThread === turn.threadId) {
      showNotice("Stopped. Nothing of that reply was saved.");
      if (!$("message").value) $("message").value = turn.content;
    }
  } catch (error) {
    forgetTurn();
    active = null;
    view.fail();
    if (currentThread === turn.threadId) enableThreadActions(saved);
    showError(error);
  } finally {
    setStreaming(false);
    $("message").focus();
  }
}

/** Sends a message with a key of its own: every retry of it repeats that key, so it is stored once. */
function send(content) {
  return followTurn({ threadId: currentThread, turnId: null, key: newIdempotencyKey(), content, lastEventId: 0 });
}

async function search(query) {
  const results = $("search-results");
  if (!query) {
    results.hidden = true;
    return;
  }
  const { hits } = await api("GET", `/search?q=${encodeURIComponent(query)}&limit=20`);
  results.replaceChildren(
    ...hits.map((hit) => {
      const link = element("a");
      link.href = `#${encodeURIComponent(hit.threadId)}`;
      link.append(element("span", "title", hit.threadId), element("span", "meta", hit.snippet));
      const item = element("li");
      item.append(link);
      return item;
    }),
  );
  if (hits.length === 0) results.append(element("li", "muted", "No conversation matches."));
  results.hidden = false;
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const content = $("message").value.trim();
  if (!content || active) return; // one turn at a time (Enter submits even while Send is disabled)
  $("message").value = "";
  void send(content);
});

$("message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});

// Stopping is explicit: a turn goes on when its page goes away. Its stream then ends with CANCELLED.
$("stop").addEventListener("click", async () => {
  const turn = active?.turn;
  if (!turn?.turnId) return;
  $("stop").disabled = true;
  showNotice("Stopping…");
  try {
    await api("POST", path(turn.threadId, `/turns/${encodeURIComponent(turn.turnId)}/cancel`));
  } catch (error) {
    if (error.status === 409) return; // it has just ended: its stream says how
    showNotice(null);
    showError(error);
    $("stop").disabled = false;
  }
});

$("fork-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const to = $("fork-to").value.trim();
  try {
    await api("POST", path(currentThread, "/fork"), { to });
    $("fork-to").value = "";
    await openThread(to);
  } catch (error) {
    showError(error);
  }
});

$("delete-thread").addEventListener("click", async () => {
  if (!confirm(`Delete conversation ${currentThread}?`)) return;
  try {
    await api("DELETE", path(currentThread));
    await openThread(newThreadId(), { isNew: true });
  } catch (error) {
    showError(error);
  }
});

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void search($("search-q").value.trim()).catch(showError);
});

$("more-threads").addEventListener("click", () => void loadThreads({ older: true }).catch(showError));

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("api-key").value.trim();
  $("api-key").value = "";
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
  void openThread(currentThread).catch(showError);
});

$("new-thread").addEventListener("click", () => openThread(newThreadId(), { isNew: true }));

/** The thread the address names; "." and ".." cannot be one, since URLs resolve them as path segments. */
async function openFromHash() {
  const threadId = threadFromHash();
  if (threadId === "." || threadId === "..") {
    await openThread(newThreadId(), { isNew: true });
    showError(new Error(`"${threadId}" cannot be a conversation id: URLs read it as part of the path`));
  } else if (threadId) {
    await openThread(threadId);
  } else {
    await openThread(newThreadId(), { isNew: true });
  }
}

window.addEventListener("hashchange", () => {
  if (threadFromHash() !== currentThread) void openFromHash().catch(showError);
});

async function checkHealth() {
  try {
    const health = await api("GET", "/healthz");
    $("health").textContent = `store: ${health.checkpointer} · ok`;
  } catch (error) {
    $("health").textContent = `store unavailable: ${error.message}`;
  }
}

/** Opens the thread the address names, then follows the turn a reload cut off, if there is one. */
async function start() {
  await openFromHash();
  const turn = pendingTurn();
  if (turn) await followTurn(turn);
}

$("key-form").hidden = !apiKey();
void checkHealth();
void start().catch(showError);
