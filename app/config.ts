import { join } from "node:path";
import { z } from "zod";
import { isCheckpointerError, MySQLConfig } from "../checkpointer/index.js";

/** How the app behaves: what `createApp` takes as options, and what the environment sets. */
export interface AppSettings {
  /** API keys; empty when the API is open to anyone who can reach it. */
  apiKeys: readonly string[];
  /** Requests per minute per API key (per client IP without keys) on the API; 0 turns the limiter off. */
  rateLimitPerMinute: number;
  /** Largest accepted JSON body, in the `bytes` notation express understands (`64kb`). */
  bodyLimit: string;
  maxIterations: number;
  /** Save a checkpoint every N agent iterations inside a turn; 0 saves at the end of the turn only. */
  checkpointEveryNIterations: number;
  /** Event-stream turns one tenant (API key; everyone at once without keys) may run at a time; more get 429. */
  maxStreamsPerTenant: number;
  /** Searches in flight at once per API key (per server without API keys); more get 429. */
  maxSearchesPerTenant: number;
  /** Turns running at once per API key (everyone at once without keys) in one process; more get 429. */
  maxTurnsPerTenant: number;
  /** A turn's lease: a replica that dies mid-turn has its turn ended as INTERRUPTED this long after. */
  turnLeaseMs: number;
  /** How long a finished turn's events are kept for clients that resume it. */
  turnEventsRetentionMs: number;
  // The HTTP server's own limits, applied by `startServer` (lifecycle.ts); docs/http-limits.md.
  /** A request's headers must have arrived within this; a new connection that sends nothing is closed then too. */
  headersTimeoutMs: number;
  /** A whole request, headers and body, must have arrived within this; not a limit on the answer. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this (plus Node's 1 s grace). */
  keepAliveTimeoutMs: number;
  /** Open connections at most; the server closes any more at once. */
  maxConnections: number;
}

/** The settings of an empty environment: `createApp`'s defaults too. */
export const DEFAULT_SETTINGS: Readonly<AppSettings> = {
  apiKeys: [],
  rateLimitPerMinute: 120,
  bodyLimit: "64kb",
  maxIterations: 8,
  checkpointEveryNIterations: 0,
  maxStreamsPerTenant: 10,
  maxSearchesPerTenant: 4,
  maxTurnsPerTenant: 256,
  turnLeaseMs: 10_000,
  turnEventsRetentionMs: 600_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1_000,
};

/** Settings read from the environment (and `.env`); `.env.example` documents each one. */
export interface AppConfig extends AppSettings {
  port: number;
  host: string;
  /** Where Prometheus scrapes `/metrics` (on `host`); undefined turns metrics off. */
  metricsPort: number | undefined;
  /**
   * Where conversations are stored, as a `getCheckpointer` spec: `mysql` when `MYSQL_URL` is set
   * (the module reads it, with `MYSQL_PASSWORD` or `MYSQL_PASSWORD_FILE`), else `sqlite:<DATA_DIR>/checkpoints.db`.
   */
  checkpointer: string;
  openai: { apiKey: string | undefined; baseURL: string | undefined; model: string };
  /** The demo model's pause between the words of a streamed reply (no OPENAI_API_KEY). */
  demoTokenDelayMs: number;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  shutdownTimeoutMs: number;
}

/** An empty value (`KEY=` in `.env`) means "unset", as a template user expects. */
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === "" ? undefined : v), schema.optional());
const integer = (min: number, max: number, fallback: number) =>
  z.preprocess((v) => (v === "" ? undefined : v), z.coerce.number().int().min(min).max(max).default(fallback));

/** Comma-separated; each key goes in an HTTP header, so printable ASCII without spaces, and long enough not to guess. */
const ApiKeys = z.preprocess(
  (v) => (typeof v === "string" ? v.split(",").map((key) => key.trim()).filter(Boolean) : []),
  z.array(z.string().regex(/^[\x21-\x7e]{16,}$/, "each key must be at least 16 printable ASCII characters, without spaces")),
);

const EnvSchema = z.object({
  PORT: integer(0, 65535, 3000),
  HOST: optional(z.string()).default("127.0.0.1"),
  METRICS_PORT: optional(z.coerce.number().int().min(0).max(65535)),
  // Parsed and checked by the checkpointer module (MySQLConfig.fromEnv), the one owner of these three.
  MYSQL_URL: optional(z.string()),
  MYSQL_PASSWORD: optional(z.string()),
  MYSQL_PASSWORD_FILE: optional(z.string()),
  DATA_DIR: optional(z.string()).default("./data"),
  OPENAI_API_KEY: optional(z.string()),
  OPENAI_BASE_URL: optional(z.url()),
  MODEL: optional(z.string()).default("gpt-4o-mini"),
  DEMO_TOKEN_DELAY_MS: integer(0, 10_000, 10),
  API_KEYS: ApiKeys,
  LOG_LEVEL: optional(z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])).default("info"),
  RATE_LIMIT_PER_MINUTE: integer(0, 1_000_000, DEFAULT_SETTINGS.rateLimitPerMinute),
  BODY_LIMIT: optional(z.string().regex(/^\d+(b|kb|mb)$/i, "must look like 64kb or 1mb")).default(DEFAULT_SETTINGS.bodyLimit),
  MAX_ITERATIONS: integer(1, 100, DEFAULT_SETTINGS.maxIterations),
  CHECKPOINT_EVERY_N_ITERATIONS: integer(0, 100, DEFAULT_SETTINGS.checkpointEveryNIterations),
  MAX_STREAMS_PER_TENANT: integer(1, 100_000, DEFAULT_SETTINGS.maxStreamsPerTenant),
  MAX_SEARCHES_PER_TENANT: integer(1, 10_000, DEFAULT_SETTINGS.maxSearchesPerTenant),
  MAX_TURNS_PER_TENANT: integer(1, 100_000, DEFAULT_SETTINGS.maxTurnsPerTenant),
  TURN_LEASE_MS: integer(1_000, 600_000, DEFAULT_SETTINGS.turnLeaseMs),
  TURN_EVENTS_RETENTION_MS: integer(0, 7 * 24 * 3_600_000, DEFAULT_SETTINGS.turnEventsRetentionMs),
  HEADERS_TIMEOUT_MS: integer(100, 600_000, DEFAULT_SETTINGS.headersTimeoutMs),
  REQUEST_TIMEOUT_MS: integer(100, 3_600_000, DEFAULT_SETTINGS.requestTimeoutMs),
  KEEP_ALIVE_TIMEOUT_MS: integer(100, 600_000, DEFAULT_SETTINGS.keepAliveTimeoutMs),
  MAX_CONNECTIONS: integer(1, 1_000_000, DEFAULT_SETTINGS.maxConnections),
  // Below Docker's default 10 s between SIGTERM and SIGKILL.
  SHUTDOWN_TIMEOUT_MS: integer(0, 600_000, 8_000),
});

/** Every environment variable the app reads (`.env.example` documents each). */
export const ENV_VARIABLES = Object.keys(EnvSchema.shape);

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The MySQL variables' problem, as the module reports it (it never echoes a password), or none. */
function mysqlProblem(env: Record<string, string | undefined>): string | undefined {
  if (!env.MYSQL_URL) return undefined;
  try {
    MySQLConfig.fromEnv(env);
    return undefined;
  } catch (error) {
    if (isCheckpointerError(error, "INVALID_INPUT")) return error.message;
    throw error;
  }
}

/** Parses the environment; throws `ConfigError` naming every bad variable (never echoing values). */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const parsed = EnvSchema.safeParse(env);
  const problems = parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  const mysql = mysqlProblem(env);
  if (mysql) problems.push(mysql);
  // Node refuses to start a server whose headers may take longer than the whole request.
  if (parsed.success && parsed.data.HEADERS_TIMEOUT_MS > parsed.data.REQUEST_TIMEOUT_MS) {
    problems.push("HEADERS_TIMEOUT_MS: must not be more than REQUEST_TIMEOUT_MS");
  }
  if (!parsed.success || problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    metricsPort: e.METRICS_PORT,
    checkpointer: e.MYSQL_URL ? "mysql" : `sqlite:${join(e.DATA_DIR, "checkpoints.db")}`,
    openai: { apiKey: e.OPENAI_API_KEY, baseURL: e.OPENAI_BASE_URL, model: e.MODEL },
    demoTokenDelayMs: e.DEMO_TOKEN_DELAY_MS,
    logLevel: e.LOG_LEVEL,
    apiKeys: [...new Set(e.API_KEYS)],
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    bodyLimit: e.BODY_LIMIT,
    maxIterations: e.MAX_ITERATIONS,
    checkpointEveryNIterations: e.CHECKPOINT_EVERY_N_ITERATIONS,
    maxStreamsPerTenant: e.MAX_STREAMS_PER_TENANT,
    maxSearchesPerTenant: e.MAX_SEARCHES_PER_TENANT,
    maxTurnsPerTenant: e.MAX_TURNS_PER_TENANT,
    turnLeaseMs: e.TURN_LEASE_MS,
    turnEventsRetentionMs: e.TURN_EVENTS_RETENTION_MS,
    headersTimeoutMs: e.HEADERS_TIMEOUT_MS,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: e.KEEP_ALIVE_TIMEOUT_MS,
    maxConnections: e.MAX_CONNECTIONS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
  };
}
