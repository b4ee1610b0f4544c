import { MemoryCheckpointer, type Checkpointer } from "../../../checkpointer/index.js";
import type { AgentState } from "../../../app/agent/state.js";
import { createApp, type AppDeps } from "../../../app/create-app.js";
import { startServer, type RunningServer } from "../../../app/lifecycle.js";
import { DemoModel } from "../../../app/models/demo.js";

export interface TestApp extends RunningServer {
  checkpointer: Checkpointer<AgentState>;
}

/**
 * The app on an ephemeral port over a MemoryCheckpointer and the demo model, unless overridden;
 * `options` set the server's limits too.
 */
export async function startTestApp(overrides: Partial<AppDeps> = {}): Promise<TestApp> {
  const checkpointer = overrides.checkpointer ?? new MemoryCheckpointer<AgentState>();
  const app = createApp({
    checkpointer,
    checkpointerKind: "memory",
    model: new DemoModel(),
    ...overrides,
    options: { rateLimitPerMinute: 0, ...overrides.options },
  });
  const running = await startServer(app, 0, "127.0.0.1", overrides.options);
  return { ...running, checkpointer };
}

// Response bodies are checked with expect(); typing every shape here would only repeat the routes.
/* eslint-disable @typescript-eslint/no-explicit-any */
export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** One HTTP request with an optional JSON body; the response body parsed as JSON when there is one. */
export async function request<T = any>(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse<T>> {
  const response = await fetch(baseUrl + path, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}
/* eslint-enable @typescript-eslint/no-explicit-any */

export const say = (baseUrl: string, threadId: string, content: string) =>
  request(baseUrl, "POST", `/threads/${encodeURIComponent(threadId)}/messages`, { content });
