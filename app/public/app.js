// The chat page: plain browser JavaScript against the JSON API, no build step.
const $ = (id) => document.getElementById(id);
const path = (threadId, suffix = "") => `/threads/${encodeURIComponent(threadId)}${suffix}`;
// The API key, when the server has API_KEYS. Kept in this browser only; the page never writes it into the DOM.
const KEY_STORAGE = "agent-chat-api-key";
const apiKey = () => localStorage.getItem(KEY_STORAGE) ?? "";

let currentThread = threadFromHash();

function threadFromHash() {
  return location.hash.length > 1 ? decodeURIComponent(location.hash.slice(1)) : null;
}

// Not crypto.randomUUID(): that needs a secure context, and the page may be served over plain http.
function newThreadId() {
  return `chat-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

async function api(method, url, body) {
  const headers = body ? { "content-type": "application/json" } : {};
  if (apiKey()) headers.authorization = `Bearer ${apiKey()}`;
  const response = await fetch(url, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (response.status === 401) $("key-form").hidden = false; // the server wants a (different) key
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.error?.message ?? `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return data;
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
}

function renderThreadHeader(title) {
  $("thread-title").textContent = title || "New conversation";
  $("thread-id").textContent = currentThread;
  location.hash = encodeURIComponent(currentThread);
}

async function loadThreads() {
  const { threads } = await api("GET", "/threads?limit=100");
  const list = $("threads");
  list.replaceChildren(
    ...threads.map((thread) => {
      const item = element("li");
      const link = element("a", thread.threadId === currentThread ? "active" : "");
      link.href = `#${encodeURIComponent(thread.threadId)}`;
      link.append(
        element("span", "title", thread.metadata.title || thread.threadId),
        element("span", "meta", `${thread.threadId} · ${new Date(thread.updatedAt).toLocaleString()}`),
      );
      item.append(link);
      return item;
    }),
  );
  $("no-threads").hidden = threads.length > 0;
}

// `isNew`: an id just made up here, so there is nothing to fetch yet.
async function openThread(threadId, { isNew = false } = {}) {
  currentThread = threadId;
  showError(null);
  $("messages").replaceChildren();
  let title = "";
  if (!isNew) {
    try {
      const thread = await api("GET", path(threadId));
      thread.messages.forEach(renderMessage);
      title = thread.messages.find((m) => m.role === "user")?.content ?? "";
    } catch (error) {
      if (error.status !== 404) showError(error); // 404: a conversation that starts with its first message
    }
  }
  $("empty").hidden = $("messages").children.length > 0;
  renderThreadHeader(title);
  await loadThreads();
}

async function send(content) {
  $("send").disabled = true;
  showError(null);
  $("empty").hidden = true;
  renderMessage({ role: "user", content });
  try {
    await api("POST", path(currentThread, "/messages"), { content });
    await openThread(currentThread); // shows the tool steps too, exactly as stored
  } catch (error) {
    showError(error);
  } finally {
    $("send").disabled = false;
    $("message").focus();
  }
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

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("api-key").value.trim();
  $("api-key").value = "";
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
  void openThread(currentThread).catch(showError);
});

$("new-thread").addEventListener("click", () => openThread(newThreadId(), { isNew: true }));

window.addEventListener("hashchange", () => {
  const threadId = threadFromHash();
  if (threadId && threadId !== currentThread) void openThread(threadId);
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
void (currentThread ? openThread(currentThread) : openThread(newThreadId(), { isNew: true })).catch(showError);
