import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { CheckpointerError, type MySQLCheckpointer } from "../../checkpointer/index.js";
import type { AgentState } from "../../app/agent/state.js";
import { ENV_VARIABLES, loadConfig } from "../../app/config.js";
import { toApiError } from "../../app/http/errors.js";
import { ModelError } from "../../app/models/model.js";
import { openStore } from "../../app/store.js";
import { REPO } from "./support/app-process.js";

describe("loadConfig", () => {
  it("has working defaults: the SQLite store in ./data and the demo model", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      host: "127.0.0.1",
      checkpointer: "sqlite:data/checkpoints.db",
      openai: { apiKey: undefined, baseURL: undefined, model: "gpt-4o-mini" },
      apiKeys: [],
      rateLimitPerMinute: 120,
      bodyLimit: "64kb",
      checkpointEveryNIterations: 0,
    });
  });

  it("treats empty values as unset, as a copied .env.example has them", () => {
    const config = loadConfig({ MYSQL_URL: "", OPENAI_API_KEY: "", PORT: "", RATE_LIMIT_PER_MINUTE: "" });
    expect(config.checkpointer).toBe("sqlite:data/checkpoints.db");
    expect(config.openai.apiKey).toBeUndefined();
    expect(config.port).toBe(3000);
  });

  it("reads every setting", () => {
    const config = loadConfig({
      PORT: "8080",
      HOST: "0.0.0.0",
      MYSQL_URL: "mysql://app@db:3306/agent?create-tables=false",
      MYSQL_PASSWORD: "s3cret",
      OPENAI_API_KEY: "sk-test",
      OPENAI_BASE_URL: "http://localhost:11434/v1",
      MODEL: "llama3.2",
      LOG_LEVEL: "debug",
      API_KEYS: " key-one-0123456789, key-two-0123456789,,key-one-0123456789 ",
      RATE_LIMIT_PER_MINUTE: "0",
      BODY_LIMIT: "1mb",
      MAX_ITERATIONS: "4",
      CHECKPOINT_EVERY_N_ITERATIONS: "2",
      MAX_STREAMS_PER_TENANT: "3",
      MAX_SEARCHES_PER_TENANT: "2",
      MAX_TURNS_PER_TENANT: "5",
      TURN_LEASE_MS: "3000",
      TURN_EVENTS_RETENTION_MS: "60000",
      DEMO_TOKEN_DELAY_MS: "0",
      HEADERS_TIMEOUT_MS: "2000",
      REQUEST_TIMEOUT_MS: "4000",
      KEEP_ALIVE_TIMEOUT_MS: "6000",
      MAX_CONNECTIONS: "50",
      SHUTDOWN_TIMEOUT_MS: "500",
    });
    expect(config).toEqual({
      port: 8080,
      host: "0.0.0.0",
      checkpointer: "mysql",
      openai: { apiKey: "sk-test", baseURL: "http://localhost:11434/v1", model: "llama3.2" },
      demoTokenDelayMs: 0,
      logLevel: "debug",
      apiKeys: ["key-one-0123456789", "key-two-0123456789"],
      rateLimitPerMinute: 0,
      bodyLimit: "1mb",
      maxIterations: 4,
      checkpointEveryNIterations: 2,
      maxStreamsPerTenant: 3,
      maxSearchesPerTenant: 2,
      maxTurnsPerTenant: 5,
      turnLeaseMs: 3000,
      turnEventsRetentionMs: 60000,
      headersTimeoutMs: 2000,
      requestTimeoutMs: 4000,
      keepAliveTimeoutMs: 6000,
      maxConnections: 50,
      shutdownTimeoutMs: 500,
    });
  });

  it("names every bad variable and never echoes a value", () => {
    let message = "";
    try {
      loadConfig({ PORT: "99999", MYSQL_URL: "postgres://u:hunter2@h/db", BODY_LIMIT: "lots" });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/PORT/);
    expect(message).toMatch(/MYSQL_URL/);
    expect(message).toMatch(/BODY_LIMIT/);
    expect(message).not.toContain("hunter2");
  });

  it("refuses a headers timeout longer than the request timeout (Node would not start the server)", () => {
    expect(() => loadConfig({ HEADERS_TIMEOUT_MS: "40000" })).toThrow(/HEADERS_TIMEOUT_MS: must not be more than REQUEST_TIMEOUT_MS/);
    expect(loadConfig({ HEADERS_TIMEOUT_MS: "40000", REQUEST_TIMEOUT_MS: "40000" }).headersTimeoutMs).toBe(40_000);
  });

  it("checks MYSQL_URL with the checkpointer module's own parser, naming the variable", () => {
    expect(() => loadConfig({ MYSQL_URL: "postgres://u:hunter2@h/db" })).toThrow(/MYSQL_URL: URL scheme must be mysql:/);
    expect(() => loadConfig({ MYSQL_URL: "mysql://u:hunter2@h/db?tabel-prefix=x" })).toThrow(/MYSQL_URL: unknown URL parameter "tabel-prefix"/);
    expect(() => loadConfig({ MYSQL_URL: "mysql://u:hunter2@h/db?tabel-prefix=x" })).not.toThrow(/hunter2/);
    expect(() => loadConfig({ MYSQL_URL: "mysql://u@h/db", MYSQL_PASSWORD: "a", MYSQL_PASSWORD_FILE: "/f" })).toThrow(
      /set MYSQL_PASSWORD or MYSQL_PASSWORD_FILE, not both/,
    );
  });

  it.each([
    ["too short", "short-key"],
    ["with a space inside", "key with spaces 0123456789"],
    ["not ASCII", "clé-0123456789abcdef"],
  ])("refuses an API key %s, without echoing it", (_label, key) => {
    const load = () => loadConfig({ API_KEYS: `good-key-0123456789,${key}` });
    expect(load).toThrow(/^invalid configuration: API_KEYS\.1: each key must be/);
    expect(load).not.toThrow(key);
  });
});

describe(".env.example", () => {
  it("documents every variable the app reads", () => {
    const documented = readFileSync(join(REPO, ".env.example"), "utf8").match(/^[A-Z_]+(?==)/gm);
    expect(ENV_VARIABLES.filter((name) => !documented?.includes(name))).toEqual([]);
  });
});

describe("openStore", () => {
  const silent = pino({ level: "silent" });

  it("uses the SQLite checkpointer in DATA_DIR by default and logs it as the embedded default", async () => {
    const dir = mkdtempSync(join(tmpdir(), "store-"));
    const lines: string[] = [];
    const logger = pino({}, { write: (line: string) => void lines.push(line) });
    const env = { DATA_DIR: dir };
    const store = openStore(loadConfig(env), logger, env);
    expect(store.kind).toBe("sqlite");
    await store.checkpointer.save({ messages: [], iteration: 0, metadata: {} }, "t");
    expect(await store.checkpointer.exists("t")).toBe(true);
    expect(JSON.parse(lines[0]!)).toMatchObject({ checkpointer: "sqlite", path: resolve(dir, "checkpoints.db"), msg: expect.stringMatching(/embedded default/) });
    await store.checkpointer.close();
  });

  it("uses MySQL when MYSQL_URL is set, logging the URL without the password", () => {
    const lines: string[] = [];
    const logger = pino({}, { write: (line: string) => void lines.push(line) });
    const env = { MYSQL_URL: "mysql://app:fromurl@db:3306/agent", MYSQL_PASSWORD: "hunter2" };
    const store = openStore(loadConfig(env), logger, env);
    expect(store.kind).toBe("mysql");
    expect(lines.join("")).toContain("mysql://app:***@db:3306/agent");
    expect(lines.join("")).not.toMatch(/hunter2|fromurl/);
    return store.checkpointer.close();
  });

  it("takes the password from MYSQL_PASSWORD_FILE (a Docker secret)", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "secret-")), "password");
    writeFileSync(file, "from-file\n");
    const env = { MYSQL_URL: "mysql://app@db:3306/agent", MYSQL_PASSWORD_FILE: file };
    const store = openStore(loadConfig(env), silent, env);
    const { backend } = store.checkpointer as MySQLCheckpointer<AgentState>;
    expect(backend.config.poolOptions().password).toBe("from-file");
    await store.checkpointer.close();
  });
});

describe("toApiError", () => {
  it.each([
    ["INVALID_INPUT", 400, "INVALID_INPUT"],
    ["CONFLICT", 409, "CONFLICT"],
    ["TOO_LARGE", 413, "TOO_LARGE"],
    ["UNAVAILABLE", 503, "UNAVAILABLE"],
    ["UNSUPPORTED", 500, "INTERNAL"],
    ["SCHEMA", 500, "INTERNAL"],
  ] as const)("maps CheckpointerError %s to %d", (code, status, apiCode) => {
    const error = toApiError(new CheckpointerError(code, "detail from the store"));
    expect(error.status).toBe(status);
    expect(error.code).toBe(apiCode);
    // Server-side failures do not leak their details to clients.
    if (status >= 500) expect(error.message).not.toContain("detail from the store");
  });

  it("maps model failures to 502 and anything unknown to 500", () => {
    expect(toApiError(new ModelError("401 invalid key")).status).toBe(502);
    const unknown = toApiError(new TypeError("x is undefined"));
    expect([unknown.status, unknown.code, unknown.message]).toEqual([500, "INTERNAL", "internal error"]);
  });
});
