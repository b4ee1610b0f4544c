import { Router } from "express";
import type { Logger } from "pino";
import { isCheckpointerError } from "../../checkpointer/index.js";
import type { Conversations } from "../agent/conversations.js";
import type { Message } from "../agent/state.js";
import { tenantOf } from "./auth.js";
import { ApiError, methodNotAllowed, requireJsonBody, toApiError } from "./errors.js";
import { hangUpSignal, sendEvents, wantsEventStream } from "./event-stream.js";
import {
  EventsQuery,
  ForkBody,
  ListCheckpointsQuery,
  ListThreadsQuery,
  NewThreadParams,
  NoQuery,
  parse,
  SearchQuery,
  SendMessageBody,
  ThreadParams,
  ThreadQuery,
  TurnHeaders,
  TurnParams,
} from "./schemas.js";
import type { Turns } from "../turns/turns.js";
import type { TenantSlots } from "./tenant-slots.js";

const HEALTH_TIMEOUT_MS = 2_000;

function turnNotFound(threadId: string, turnId: string): ApiError {
  return new ApiError(404, "NOT_FOUND", `thread ${JSON.stringify(threadId)} has no turn ${JSON.stringify(turnId)}`);
}

/** One of the tenant's event-stream slots, or the 429 that says there is none. */
function takeStream(streams: TenantSlots, tenant: string): () => void {
  const release = streams.take(tenant);
  if (release) return release;
  throw new ApiError(
    429,
    "TOO_MANY_STREAMS",
    `at most ${streams.perTenant} event streams at a time per API key (per server without API keys); try again when one has finished`,
  );
}

function threadNotFound(threadId: string): ApiError {
  return new ApiError(404, "NOT_FOUND", `thread ${JSON.stringify(threadId)} does not exist`);
}

/** The 404 for a thread, or for a checkpoint of a thread that exists. */
async function notFound(conversations: Conversations, tenant: string, threadId: string, checkpointId?: string): Promise<ApiError> {
  if (checkpointId === undefined || !(await conversations.exists(tenant, threadId))) return threadNotFound(threadId);
  return new ApiError(404, "NOT_FOUND", `thread ${JSON.stringify(threadId)} has no checkpoint ${JSON.stringify(checkpointId)}`);
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
  router
    .route("/healthz")
    .get(async (_req, res) => {
      try {
        await conversations.ping(HEALTH_TIMEOUT_MS);
        res.json({ status: "ok", checkpointer });
      } catch (error) {
        // The reason (host, driver error) is for the operator's log, not for anyone who can reach the port.
        logger.warn({ err: error }, "health check failed");
        const { message } = toApiError(error);
        res.status(503).json({ status: "unavailable", checkpointer, error: { code: "UNAVAILABLE", message } });
      }
    })
    .all(methodNotAllowed("GET"));
  return router;
}

/** Paths the API answers: the chat page's static files never shadow them (`..` in an id included). */
export function isApiPath(path: string): boolean {
  return /^\/(threads|search)(\/|$)/.test(path);
}

/** The JSON API on threads, each request within its tenant's threads (`requireApiKey` runs first). */
export function threadRoutes(conversations: Conversations, turns: Turns, { streams, searches }: { streams: TenantSlots; searches: TenantSlots }): Router {
  const router = Router();

  router
    .route("/threads")
    .get(async (req, res) => {
      const query = parse(ListThreadsQuery, req.query, "query");
      res.json(await conversations.list(tenantOf(res), query));
    })
    .all(methodNotAllowed("GET"));

  router
    .route("/search")
    .get(async (req, res) => {
      const { q, limit } = parse(SearchQuery, req.query, "query");
      const tenant = tenantOf(res);
      const release = searches.take(tenant);
      if (!release) {
        throw new ApiError(
          429,
          "TOO_MANY_SEARCHES",
          `at most ${searches.perTenant} searches at a time per API key (per server without API keys); try again when one has finished`,
        );
      }
      try {
        res.json({ hits: await conversations.search(tenant, q, limit) });
      } finally {
        release();
      }
    })
    .all(methodNotAllowed("GET"));

  router
    .route("/threads/:threadId/messages")
    .post(requireJsonBody, async (req, res) => {
      const { threadId } = parse(NewThreadParams, req.params, "path");
      parse(NoQuery, req.query, "query");
      const { content } = parse(SendMessageBody, req.body, "body");
      const { "idempotency-key": key } = parse(TurnHeaders, req.headers, "header");
      const tenant = tenantOf(res);
      const stream = wantsEventStream(req);
      // Taken before the turn starts: a refused stream starts no turn.
      const release = stream ? takeStream(streams, tenant) : undefined;
      try {
        const started = await turns.start(tenant, threadId, content, { idempotencyKey: key, streamed: stream });
        if (started.kind === "mismatch") {
          throw new ApiError(422, "IDEMPOTENCY_KEY_REUSED", "this Idempotency-Key was used with another request; use a new key for a new message");
        }
        const replayed: Record<string, string> = started.kind === "existing" ? { "idempotent-replayed": "true" } : {};
        const gone = hangUpSignal(res);
        if (stream) {
          const events = await turns.events(tenant, threadId, started.turnId, 0, gone);
          await sendEvents(res, gone, events!, { "x-turn-id": started.turnId, ...replayed });
          return;
        }
        // JSON: the answer once the turn has ended; a client that hangs up meanwhile stops waiting, not the turn.
        const outcome = await turns.outcome(tenant, threadId, started.turnId, gone);
        if (!outcome || gone.aborted) return;
        res.set({ "x-turn-id": started.turnId, ...replayed });
        const { status = 500, ...body } = outcome.data as { status?: number };
        res.status(outcome.event === "done" ? 200 : status).json(body);
      } finally {
        release?.();
      }
    })
    .all(methodNotAllowed("POST"));

  router
    .route("/threads/:threadId/turns/:turnId/events")
    .get(async (req, res) => {
      const { threadId, turnId } = parse(TurnParams, req.params, "path");
      const { lastEventId } = parse(EventsQuery, req.query, "query");
      const { "last-event-id": lastEventIdHeader } = parse(TurnHeaders, req.headers, "header");
      const tenant = tenantOf(res);
      const release = takeStream(streams, tenant);
      try {
        const gone = hangUpSignal(res);
        const events = await turns.events(tenant, threadId, turnId, lastEventIdHeader ?? lastEventId ?? 0, gone);
        if (!events) throw turnNotFound(threadId, turnId);
        await sendEvents(res, gone, events, { "x-turn-id": turnId });
      } finally {
        release();
      }
    })
    .all(methodNotAllowed("GET"));

  router
    .route("/threads/:threadId/turns/:turnId/cancel")
    .post(async (req, res) => {
      const { threadId, turnId } = parse(TurnParams, req.params, "path");
      parse(NoQuery, req.query, "query");
      const outcome = await turns.cancel(tenantOf(res), threadId, turnId);
      if (outcome === null) throw turnNotFound(threadId, turnId);
      if (outcome === "ended") throw new ApiError(409, "CONFLICT", `turn ${turnId} has already ended`);
      res.status(202).json({ turnId, status: outcome });
    })
    .all(methodNotAllowed("POST"));

  router
    .route("/threads/:threadId")
    .get(async (req, res) => {
      const { threadId } = parse(ThreadParams, req.params, "path");
      const { checkpointId } = parse(ThreadQuery, req.query, "query");
      const snapshot = await conversations.get(tenantOf(res), threadId, checkpointId);
      if (!snapshot) throw await notFound(conversations, tenantOf(res), threadId, checkpointId);
      res.json({ threadId, checkpointId: snapshot.checkpointId, messages: snapshot.state.messages.map(publicMessage) });
    })
    .delete(async (req, res) => {
      const { threadId } = parse(ThreadParams, req.params, "path");
      parse(NoQuery, req.query, "query");
      if (!(await conversations.delete(tenantOf(res), threadId))) throw threadNotFound(threadId);
      res.status(204).end();
    })
    .all(methodNotAllowed("GET", "DELETE"));

  router
    .route("/threads/:threadId/checkpoints")
    .get(async (req, res) => {
      const { threadId } = parse(ThreadParams, req.params, "path");
      const { limit, cursor } = parse(ListCheckpointsQuery, req.query, "query");
      const page = await conversations.checkpoints(tenantOf(res), threadId, limit, cursor);
      if (!page) throw await notFound(conversations, tenantOf(res), threadId, cursor);
      res.json(page);
    })
    .all(methodNotAllowed("GET"));

  router
    .route("/threads/:threadId/fork")
    .post(requireJsonBody, async (req, res) => {
      const { threadId } = parse(ThreadParams, req.params, "path");
      parse(NoQuery, req.query, "query");
      const { to, checkpointId } = parse(ForkBody, req.body, "body");
      if (to === threadId) throw new ApiError(400, "INVALID_INPUT", "body.to: must differ from the thread being forked");
      const tenant = tenantOf(res);
      const fork = await conversations.fork(tenant, threadId, to, checkpointId).catch(async (error: unknown) => {
        // The usual conflict, said as such; any other is the generic one (errors.ts).
        if (isCheckpointerError(error, "CONFLICT") && (await conversations.exists(tenant, to))) {
          throw new ApiError(409, "CONFLICT", `thread ${JSON.stringify(to)} already exists; fork to a new thread id`);
        }
        throw error;
      });
      if (!fork) throw await notFound(conversations, tenant, threadId, checkpointId);
      res.status(201).json({ threadId: to, checkpointId: fork.checkpointId, forkedFrom: threadId });
    })
    .all(methodNotAllowed("POST"));

  return router;
}
