import { Router } from "express";
import type { Logger } from "pino";
import type { Conversations } from "../agent/conversations.js";
import type { Message } from "../agent/state.js";
import { tenantOf } from "./auth.js";
import { ApiError, toApiError } from "./errors.js";
import { ForkBody, ListCheckpointsQuery, ListThreadsQuery, parse, SendMessageBody, ThreadParams } from "./schemas.js";

const HEALTH_TIMEOUT_MS = 2_000;

function threadNotFound(threadId: string): ApiError {
  return new ApiError(404, "NOT_FOUND", `thread ${JSON.stringify(threadId)} does not exist`);
}

/** Messages as the API shows them: role and content, plus what a tool step did. */
function publicMessage(m: Message) {
  switch (m.role) {
    case "tool":
      return { role: m.role, content: m.content, name: m.name };
    case "assistant":
      return m.toolCalls?.length
        ? { role: m.role, content: m.content, toolCalls: m.toolCalls.map((c) => ({ name: c.name, arguments: c.arguments })) }
        : { role: m.role, content: m.content };
    case "user":
      return { role: m.role, content: m.content };
  }
}

/** `GET /healthz`, open to anyone (load balancers, Compose). `checkpointer` names the store. */
export function healthRoute(conversations: Conversations, checkpointer: string, logger: Logger): Router {
  const router = Router();
  router.get("/healthz", async (_req, res) => {
    try {
      await conversations.ping(HEALTH_TIMEOUT_MS);
      res.json({ status: "ok", checkpointer });
    } catch (error) {
      // The reason (host, driver error) is for the operator's log, not for anyone who can reach the port.
      logger.warn({ err: error }, "health check failed");
      const { message } = toApiError(error);
      res.status(503).json({ status: "unavailable", checkpointer, error: { code: "UNAVAILABLE", message } });
    }
  });
  return router;
}

/** The JSON API on threads, each request within its tenant's threads (`requireApiKey` runs first). */
export function threadRoutes(conversations: Conversations): Router {
  const router = Router();

  router.get("/threads", async (req, res) => {
    const query = parse(ListThreadsQuery, req.query, "query");
    res.json({ threads: await conversations.list(tenantOf(res), query) });
  });

  router.post("/threads/:threadId/messages", async (req, res) => {
    const { threadId } = parse(ThreadParams, req.params, "path");
    const { content } = parse(SendMessageBody, req.body, "body");
    const { checkpointId, reply } = await conversations.send(tenantOf(res), threadId, content);
    res.json({ threadId, checkpointId, reply: { role: "assistant", content: reply } });
  });

  router.get("/threads/:threadId", async (req, res) => {
    const { threadId } = parse(ThreadParams, req.params, "path");
    const snapshot = await conversations.get(tenantOf(res), threadId);
    if (!snapshot) throw threadNotFound(threadId);
    res.json({ threadId, checkpointId: snapshot.checkpointId, messages: snapshot.state.messages.map(publicMessage) });
  });

  router.get("/threads/:threadId/checkpoints", async (req, res) => {
    const { threadId } = parse(ThreadParams, req.params, "path");
    const { limit } = parse(ListCheckpointsQuery, req.query, "query");
    const checkpoints = await conversations.checkpoints(tenantOf(res), threadId, limit);
    if (!checkpoints) throw threadNotFound(threadId);
    res.json({ checkpoints });
  });

  router.post("/threads/:threadId/fork", async (req, res) => {
    const { threadId } = parse(ThreadParams, req.params, "path");
    const { to } = parse(ForkBody, req.body, "body");
    const fork = await conversations.fork(tenantOf(res), threadId, to);
    if (!fork) throw threadNotFound(threadId);
    res.status(201).json({ threadId: to, checkpointId: fork.checkpointId, forkedFrom: threadId });
  });

  router.delete("/threads/:threadId", async (req, res) => {
    const { threadId } = parse(ThreadParams, req.params, "path");
    if (!(await conversations.delete(tenantOf(res), threadId))) throw threadNotFound(threadId);
    res.status(204).end();
  });

  return router;
}
