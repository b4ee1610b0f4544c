import { createServer, type RequestListener, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { DEFAULT_SETTINGS, type AppSettings } from "./config.js";
import { answerClientError } from "./http/client-error.js";

export interface RunningServer {
  server: Server;
  /** e.g. `http://127.0.0.1:3000` (the real port when 0 was asked for). */
  url: string;
  /**
   * Stops accepting connections and resolves once every in-flight request has been answered
   * and its connection closed.
   */
  stop(): Promise<void>;
}

/** The app's settings that limit the server itself (docs/http-limits.md). */
export type ServerLimits = Pick<AppSettings, "headersTimeoutMs" | "requestTimeoutMs" | "keepAliveTimeoutMs" | "maxConnections">;

/**
 * Listens on `host:port` (port 0 picks a free one) with `limits` (the defaults for any not given)
 * and resolves once the socket is bound.
 */
export async function startServer(handler: RequestListener, port: number, host: string, limits: Partial<ServerLimits> = {}): Promise<RunningServer> {
  const { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, maxConnections } = { ...DEFAULT_SETTINGS, ...limits };
  const server = createServer({
    headersTimeout: headersTimeoutMs,
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: keepAliveTimeoutMs,
    // Node enforces the two timeouts only when it checks, every 30 s by default (so trickled
    // headers lasted up to 71 s): check four times per headers timeout, at least once a second.
    connectionsCheckingInterval: Math.min(1_000, Math.ceil(headersTimeoutMs / 4)),
  });
  // Further connections are closed as soon as they are accepted.
  server.maxConnections = maxConnections;
  const inFlight = new Set<ServerResponse>();
  let stopping = false;
  // Registered before the app's handler, so no response has been sent yet.
  server.on("request", (_req, res: ServerResponse) => {
    // While stopping, answer requests that still arrive on open keep-alive connections, then close them.
    if (stopping) res.setHeader("Connection", "close");
    inFlight.add(res);
    res.on("close", () => inFlight.delete(res));
  });
  server.on("request", handler);
  server.on("clientError", answerClientError);

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { address, family, port: actual } = server.address() as AddressInfo;
  const url = `http://${family === "IPv6" ? `[${address}]` : address}:${actual}`;

  return {
    server,
    url,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        stopping = true;
        // Without this, a finished response leaves its keep-alive connection open and close()
        // would wait for the client to hang up.
        for (const res of inFlight) if (!res.headersSent) res.setHeader("Connection", "close");
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      }),
  };
}

/** True when `work` settles within `ms`; false when it is still running then (it is not cancelled). */
async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([work.then(() => true), sleep(Math.max(0, ms), false, { signal: timer.signal })]);
  } finally {
    timer.abort();
  }
}

/**
 * Graceful shutdown within `timeoutMs`: stop accepting, let in-flight turns finish (cutting
 * their connections when time runs out), then close the checkpointer's pool. Resolves true when
 * everything finished cleanly.
 */
export async function shutdown(
  running: RunningServer,
  closeStore: () => Promise<void>,
  timeoutMs: number,
  logger: Logger,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const drained = await settlesWithin(running.stop(), timeoutMs);
  if (!drained) {
    logger.warn({ timeoutMs }, "in-flight requests did not finish in time; closing their connections");
    running.server.closeAllConnections();
  }
  try {
    if (await settlesWithin(closeStore(), deadline - Date.now())) return drained;
    logger.warn("the checkpointer did not close in time");
  } catch (error) {
    logger.warn({ err: error }, "closing the checkpointer failed");
  }
  return false;
}
