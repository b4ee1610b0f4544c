// The chat page: plain browser JavaScript against the JSON API, no build step.
const $ = (id) => document.getElementById(id);
const path = (threadId, suffix = "") => `/threads/${encodeURIComponent(threadId)}${suffix}`;
// The API key, when the server has API_KEYS. Kept in this browser only; the page never writes it into the DOM.
const KEY_STORAGE = "agent-chat-api-key";
const apiKey = () => localStorage.getItem(KEY_STORAGE) ?? "";
// Conversations per page of the sidebar (the API's default); older ones load on demand.
const THREADS_PAGE = 50;
// The checkpoints a page looks at to offer "branch from here" and "edit and resend".
const CHECKPOINTS_PAGE = 100;

let currentThread = null;
// Where the sidebar's next page starts; null when every conversation is listed.
let olderThreads = null;
// The open thread's checkpoints, newest first, each with the number of messages it holds.
let checkpoints = [];

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

/** One turn as server-sent events: `on.token`, `on.tool` and `on.done` get each event's data. */
async function streamTurn(threadId, content, on) {
  const response = await fetch(path(threadId, "/messages"), {
    method: "POST",
    headers: requestHeaders({ "content-type": "application/json", accept: "text/event-stream" }),
    body: JSON.stringify({ content }),
  });
  if (!response.ok || !response.headers.get("content-type")?.startsWith("text/event-stream")) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null");
      if (event === "error") throw new Error(data.error.message);
      on[event]?.(data);
    }
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

function renderMessage(message) {
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
  $("empty").hidden = $("messages").children.length > 0;
  renderThreadHeader(title, saved);
  await loadThreads();
}

/** Sends a message and shows the reply as it streams; then shows the turn as stored. */
async function send(content) {
  const saved = !$("delete-thread").disabled;
  $("send").disabled = true;
  enableThreadActions(false);
  showError(null);
  $("empty").hidden = true;
  renderMessage({ role: "user", content });
  const reply = renderMessage({ role: "assistant", content: "" });
  reply.classList.add("streaming");
  const text = reply.querySelector("p");
  try {
    await streamTurn(currentThread, content, {
      // Text written alongside tool calls comes before them: a tool step starts the reply afresh.
      tool: (step) => {
        reply.before(renderMessage({ role: "assistant", content: "", toolCalls: [step] }));
        reply.before(renderMessage({ role: "tool", name: step.name, content: step.result }));
        text.textContent = "";
      },
      token: ({ text: piece }) => {
        text.textContent += piece;
        reply.scrollIntoView({ block: "end" });
      },
    });
    await openThread(currentThread); // the turn exactly as stored, with its checkpoint's actions
  } catch (error) {
    reply.remove();
    enableThreadActions(saved);
    showError(error);
  } finally {
    $("send").disabled = false;
    $("message").focus();
  }
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
  if (!content) return;
  $("message").value = "";
  void send(content);
});

$("message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("composer").requestSubmit();
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

$("key-form").hidden = !apiKey();
void checkHealth();
void openFromHash().catch(showError);
