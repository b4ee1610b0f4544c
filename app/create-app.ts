import { fileURLToPath } from "node:url";
import express, { type Express } from "express";
import { ipKeyGenerator, rateLimit } from "express-rate-limit";
import { pino, type Logger } from "pino";
import { BackendCheckpointer, MySQLBackend, SQLiteBackend, type Checkpointer, type TurnLog } from "../checkpointer/index.js";
import { Conversations, type RetryPolicy } from "./agent/conversations.js";
import type { AgentState } from "./agent/state.js";
import { DEFAULT_SETTINGS, type AppSettings } from "./config.js";
import { authenticate, requireApiKey } from "./http/auth.js";
import { ApiError, errorHandler, notFound } from "./http/errors.js";
import { healthRoute, isApiPath, threadRoutes } from "./http/routes.js";
import { TenantSlots } from "./http/tenant-slots.js";
import type { Model } from "./models/model.js";
import { Turns } from "./turns/turns.js";
import { recordHttpRequest } from "./telemetry/http.js";
import { calculatorTool } from "./tools/calculator.js";
import { currentTimeTool } from "./tools/current-time.js";
import { Toolbox, type Tool } from "./tools/tool.js";

const SYSTEM_PROMPT =
  "You are a helpful assistant in a chat app. Answer briefly. Use the calculator tool for arithmetic " +
  "and the current_time tool for the date or time instead of guessing.";

/** With `apiKeys`, every request but `/healthz` and the chat page needs one, and sees its own threads only. */
export interface AppOptions extends AppSettings {
  retry: RetryPolicy;
}

export interface AppDeps {
  checkpointer: Checkpointer<AgentState>;
  /** The store's kind for `/healthz`: `mysql`, `file`, `memory`. */
  checkpointerKind: string;
  model: Model;
  tools?: readonly Tool[];
  logger?: Logger;
  options?: Partial<AppOptions>;
}

// The same defaults as an empty environment gives main.ts.
const DEFAULT_OPTIONS: AppOptions = { ...DEFAULT_SETTINGS, retry: { attempts: 5, baseDelayMs: 25 } };

const PUBLIC_DIR = fileURLToPath(new URL("./public/", import.meta.url));

/**
 * The HTTP app: JSON API, chat page and health check over one checkpointer and one model.
 * No listening, no signals, no environment: `main.ts` does those, tests call this directly.
 */
export function createApp(deps: AppDeps): Express & { turns: Turns } {
  const options = { ...DEFAULT_OPTIONS, ...deps.options };
  const logger = deps.logger ?? pino({ level: "silent" });
  const conversations = new Conversations({
    checkpointer: deps.checkpointer,
    agent: {
      model: deps.model,
      toolbox: new Toolbox(deps.tools ?? [calculatorTool, currentTimeTool()]),
      systemPrompt: SYSTEM_PROMPT,
      maxIterations: options.maxIterations,
      checkpointEveryNIterations: options.checkpointEveryNIterations,
    },
    logger,
    retry: options.retry,
  });

  const app = express();
  app.disable("x-powered-by");
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      recordHttpRequest(req.method, (req.route as { path?: string } | undefined)?.path, res.statusCode, ms / 1000);
      // Compose probes /healthz every few seconds: keep that out of the info log.
      const level = req.path === "/healthz" ? "debug" : "info";
      const { tenant } = res.locals;
      logger[level]({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms), ...(tenant && { tenant }) }, "request");
    });
    next();
  });
  // The page and the health check are open; everything after them needs a key when keys are set.
  const page = express.static(PUBLIC_DIR, { redirect: false });
  app.use((req, res, next) => (isApiPath(req.path) ? next() : page(req, res, next)));
  app.use(healthRoute(conversations, deps.checkpointerKind, logger));
  app.use(authenticate(options.apiKeys));
  if (options.rateLimitPerMinute > 0) {
    app.use(
      rateLimit({
        windowMs: 60_000,
        limit: options.rateLimitPerMinute,
        standardHeaders: "draft-8",
        legacyHeaders: false,
        // One budget per API key; per IP without one, so guessing keys is limited too.
        keyGenerator: (req, res) => (res.locals.tenant ? `key:${res.locals.tenant}` : ipKeyGenerator(req.ip ?? "")),
        handler: (_req, _res, next) => next(new ApiError(429, "RATE_LIMITED", "too many requests; slow down and try again shortly")),
      }),
    );
  }
  app.use(requireApiKey);
  // Not strict: a body of `null` or `42` is then refused by the route's schema, which says what it expected.
  app.use(express.json({ limit: options.bodyLimit, strict: false }));
  const turns = new Turns({
    log: turnLogOf(deps.checkpointer),
    conversations,
    logger,
    settings: { leaseMs: options.turnLeaseMs, retentionMs: options.turnEventsRetentionMs, maxTurnsPerTenant: options.maxTurnsPerTenant },
  });
  sweepTurns(turns, options.turnEventsRetentionMs, logger);
  const slots = { streams: new TenantSlots(options.maxStreamsPerTenant), searches: new TenantSlots(options.maxSearchesPerTenant) };
  app.use(threadRoutes(conversations, turns, slots));
  app.use(notFound);
  app.use(errorHandler(logger));
  return Object.assign(app, { turns });
}

/** The turn log in the checkpointer's own database (MySQL or SQLite): where turns' events are kept for every replica. */
function turnLogOf(checkpointer: Checkpointer<AgentState>): TurnLog {
  const backend = checkpointer instanceof BackendCheckpointer ? checkpointer.backend : undefined;
  if (backend instanceof MySQLBackend || backend instanceof SQLiteBackend) return backend.turnLog;
  throw new TypeError("the app needs a MySQL or SQLite checkpointer (MemoryCheckpointer, SQLiteCheckpointer, mysqlCheckpointer): turns are kept in its database");
}

/**
 * Ends turns of replicas that died and deletes expired events and keys, now and then (every
 * replica does it: the deletes are idempotent). The timer does not keep the process alive.
 */
function sweepTurns(turns: Turns, retentionMs: number, logger: Logger): void {
  const everyMs = Math.max(1_000, Math.min(60_000, retentionMs));
  const sweep = () => {
    turns.sweep().then(
      (swept) => logger.debug(swept, "turn log swept"),
      (error: unknown) => logger.warn({ err: error }, "sweeping the turn log failed"),
    );
  };
  // Jittered, so replicas started together do not sweep together.
  setInterval(sweep, everyMs * (0.75 + Math.random() / 2)).unref();
}
