import { z } from "zod";

/** Settings read from the environment (and `.env`); `.env.example` documents each one. */
export interface AppConfig {
  port: number;
  host: string;
  /** MySQL when `MYSQL_URL` is set; otherwise the file checkpointer in `dataDir`. */
  mysql: MySQLSettings | undefined;
  dataDir: string;
  openai: { apiKey: string | undefined; baseURL: string | undefined; model: string };
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** API keys; empty when the API is open to anyone who can reach it. */
  apiKeys: string[];
  /** Requests per minute per API key (per client IP without keys) on the API; 0 turns the limiter off. */
  rateLimitPerMinute: number;
  /** Largest accepted JSON body, in the `bytes` notation express understands (`64kb`). */
  bodyLimit: string;
  maxIterations: number;
  /** Save a checkpoint every N agent iterations inside a turn; 0 saves at the end of the turn only. */
  checkpointEveryNIterations: number;
  shutdownTimeoutMs: number;
}

export interface MySQLSettings {
  url: string;
  /** Overrides the URL's password, so it needs no URL-escaping (Compose passes it this way). */
  password: string | undefined;
  /** A file holding the password (a Docker secret); exclusive with `password`. */
  passwordFile: string | undefined;
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
  MYSQL_URL: optional(z.string().startsWith("mysql://", "must start with mysql://")),
  MYSQL_PASSWORD: optional(z.string()),
  MYSQL_PASSWORD_FILE: optional(z.string()),
  DATA_DIR: optional(z.string()).default("./data"),
  OPENAI_API_KEY: optional(z.string()),
  OPENAI_BASE_URL: optional(z.url()),
  MODEL: optional(z.string()).default("gpt-4o-mini"),
  API_KEYS: ApiKeys,
  LOG_LEVEL: optional(z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])).default("info"),
  RATE_LIMIT_PER_MINUTE: integer(0, 1_000_000, 120),
  BODY_LIMIT: optional(z.string().regex(/^\d+(b|kb|mb)$/i, "must look like 64kb or 1mb")).default("64kb"),
  MAX_ITERATIONS: integer(1, 100, 8),
  CHECKPOINT_EVERY_N_ITERATIONS: integer(0, 100, 0),
  // Below Docker's default 10 s between SIGTERM and SIGKILL.
  SHUTDOWN_TIMEOUT_MS: integer(0, 600_000, 8_000),
}).refine((e) => !(e.MYSQL_PASSWORD && e.MYSQL_PASSWORD_FILE), {
  path: ["MYSQL_PASSWORD"],
  message: "set MYSQL_PASSWORD or MYSQL_PASSWORD_FILE, not both",
});

/** Every environment variable the app reads (`.env.example` documents each). */
export const ENV_VARIABLES = Object.keys(EnvSchema.shape);

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses the environment; throws `ConfigError` naming every bad variable (never echoing values). */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    mysql: e.MYSQL_URL ? { url: e.MYSQL_URL, password: e.MYSQL_PASSWORD, passwordFile: e.MYSQL_PASSWORD_FILE } : undefined,
    dataDir: e.DATA_DIR,
    openai: { apiKey: e.OPENAI_API_KEY, baseURL: e.OPENAI_BASE_URL, model: e.MODEL },
    logLevel: e.LOG_LEVEL,
    apiKeys: [...new Set(e.API_KEYS)],
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    bodyLimit: e.BODY_LIMIT,
    maxIterations: e.MAX_ITERATIONS,
    checkpointEveryNIterations: e.CHECKPOINT_EVERY_N_ITERATIONS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
  };
}
