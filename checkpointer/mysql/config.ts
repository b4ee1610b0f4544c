import { readFileSync } from "node:fs";
import type { PoolOptions } from "mysql2/promise";
import { CheckpointerError } from "../errors.js";

export const DEFAULT_TABLE_PREFIX = "cp_";

/** TLS, as MySQL's own clients name the modes. */
export type SslMode = "DISABLED" | "PREFERRED" | "REQUIRED" | "VERIFY_CA" | "VERIFY_IDENTITY";

/** Optional fields may be given as `undefined` (unset), for callers under `exactOptionalPropertyTypes`. */
export interface MySQLConfigFields {
  host?: string | undefined;
  port?: number | undefined;
  user?: string | undefined;
  password?: string | undefined;
  database: string;
  /** Unix socket instead of host/port. */
  socketPath?: string | undefined;
  /** Prepended to every table name: `[A-Za-z0-9_]`, up to 20 characters. Default `cp_`. */
  tablePrefix?: string | undefined;
  sslMode?: SslMode | undefined;
  /** PEM text of the CA (for VERIFY_CA / VERIFY_IDENTITY), and of a client certificate and key. */
  sslCa?: string | undefined;
  sslCert?: string | undefined;
  sslKey?: string | undefined;
  /** Pool size. Default 10. */
  connectionLimit?: number | undefined;
  /** Milliseconds to wait for a connection to open. Default 10000. */
  connectTimeoutMs?: number | undefined;
  /** Checkpoints expire this many seconds after they are saved. Default: never. */
  ttlSeconds?: number | undefined;
  /** Create missing tables on first use. Default true; false when the app's user has DML rights only. */
  createTables?: boolean | undefined;
}

const URL_PARAMS: Record<string, (fields: MySQLConfigFields, value: string) => void> = {
  "table-prefix": (f, v) => (f.tablePrefix = v),
  "ssl-mode": (f, v) => (f.sslMode = v.toUpperCase() as SslMode),
  "ssl-ca": (f, v) => (f.sslCa = readPem(v, "ssl-ca")),
  "ssl-cert": (f, v) => (f.sslCert = readPem(v, "ssl-cert")),
  "ssl-key": (f, v) => (f.sslKey = readPem(v, "ssl-key")),
  "connection-limit": (f, v) => (f.connectionLimit = Number(v)),
  "connect-timeout": (f, v) => (f.connectTimeoutMs = Number(v)),
  "ttl-seconds": (f, v) => (f.ttlSeconds = Number(v)),
  "create-tables": (f, v) => (f.createTables = parseBoolean(v, "create-tables")),
  socket: (f, v) => (f.socketPath = v),
};

function invalid(message: string): never {
  throw new CheckpointerError("INVALID_INPUT", `MySQL config: ${message}`);
}

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    return invalid(`cannot read ${what} file ${JSON.stringify(path)}: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

function parseBoolean(value: string, what: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  return invalid(`${what} must be true or false`);
}

function positiveInteger(value: number | undefined, what: string): number | undefined {
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) invalid(`${what} must be a positive integer`);
  return value;
}

/**
 * A validated MySQL configuration. The password is kept private: `toString()`, `toJSON()` and
 * `util.inspect` show `***` in its place, so logging the config never leaks it.
 *
 * @example
 * MySQLConfig.fromUrl("mysql://app:secret@db:3306/agent?ssl-mode=REQUIRED")
 * MySQLConfig.fromEnv()  // MYSQL_URL, and MYSQL_PASSWORD or MYSQL_PASSWORD_FILE (a Docker secret)
 */
export class MySQLConfig {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly socketPath: string | undefined;
  readonly tablePrefix: string;
  readonly sslMode: SslMode;
  readonly sslCa: string | undefined;
  readonly sslCert: string | undefined;
  readonly sslKey: string | undefined;
  readonly connectionLimit: number;
  readonly connectTimeoutMs: number;
  readonly ttlSeconds: number | undefined;
  readonly createTables: boolean;
  readonly #password: string;

  constructor(fields: MySQLConfigFields) {
    if (!fields || typeof fields !== "object") invalid("fields are required");
    this.host = fields.host ?? "127.0.0.1";
    this.port = positiveInteger(fields.port, "port") ?? 3306;
    if (this.port > 65535) invalid("port must be at most 65535");
    this.user = fields.user ?? "root";
    this.#password = fields.password ?? "";
    if (typeof fields.database !== "string" || !/^[A-Za-z0-9_$]{1,64}$/.test(fields.database)) {
      invalid("database must be 1 to 64 characters of [A-Za-z0-9_$]");
    }
    this.database = fields.database;
    this.socketPath = fields.socketPath;
    this.tablePrefix = fields.tablePrefix ?? DEFAULT_TABLE_PREFIX;
    if (!/^[A-Za-z0-9_]{0,20}$/.test(this.tablePrefix)) invalid("tablePrefix must be up to 20 characters of [A-Za-z0-9_]");
    this.sslMode = fields.sslMode ?? "PREFERRED";
    if (!["DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"].includes(this.sslMode)) {
      invalid("ssl-mode must be DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY");
    }
    if ((this.sslMode === "VERIFY_CA" || this.sslMode === "VERIFY_IDENTITY") && !fields.sslCa) {
      invalid(`ssl-mode ${this.sslMode} needs a CA (ssl-ca)`);
    }
    this.sslCa = fields.sslCa;
    this.sslCert = fields.sslCert;
    this.sslKey = fields.sslKey;
    this.connectionLimit = positiveInteger(fields.connectionLimit, "connectionLimit") ?? 10;
    this.connectTimeoutMs = positiveInteger(fields.connectTimeoutMs, "connectTimeoutMs") ?? 10_000;
    this.ttlSeconds = positiveInteger(fields.ttlSeconds, "ttlSeconds");
    this.createTables = fields.createTables ?? true;
  }

  /** `mysql://user:password@host:port/database?table-prefix=…&ssl-mode=…&ssl-ca=/path/ca.pem&ttl-seconds=…` */
  static fromUrl(url: string): MySQLConfig {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      // The URL may hold a password: never echo it.
      return invalid("not a valid mysql:// URL");
    }
    if (parsed.protocol !== "mysql:") invalid(`URL scheme must be mysql:, got ${parsed.protocol}`);
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
    const fields: MySQLConfigFields = {
      host: parsed.hostname.replace(/^\[(.*)\]$/, "$1") || undefined,
      port: parsed.port ? Number(parsed.port) : undefined,
      user: parsed.username ? decodeURIComponent(parsed.username) : undefined,
      password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
      database,
    };
    for (const [name, value] of parsed.searchParams) {
      const apply = URL_PARAMS[name];
      if (!apply) invalid(`unknown URL parameter ${JSON.stringify(name)} (known: ${Object.keys(URL_PARAMS).join(", ")})`);
      apply(fields, value);
    }
    return new MySQLConfig(fields);
  }

  /**
   * From `MYSQL_URL`, with the password apart from the URL if wanted: `MYSQL_PASSWORD` (no URL
   * escaping needed) or `MYSQL_PASSWORD_FILE` (a Docker secret), not both. Empty values are unset,
   * as in a `.env` file.
   */
  static fromEnv(env: Record<string, string | undefined> = process.env): MySQLConfig {
    const { MYSQL_URL: url, MYSQL_PASSWORD: password, MYSQL_PASSWORD_FILE: passwordFile } = env;
    if (!url) invalid("MYSQL_URL is not set");
    if (password && passwordFile) invalid("set MYSQL_PASSWORD or MYSQL_PASSWORD_FILE, not both");
    let config: MySQLConfig;
    try {
      config = MySQLConfig.fromUrl(url);
    } catch (error) {
      if (error instanceof CheckpointerError) invalid(`MYSQL_URL: ${error.message.replace(/^MySQL config: /, "")}`);
      throw error;
    }
    if (password) return config.with({ password });
    if (!passwordFile) return config;
    try {
      return config.with({ password: readFileSync(passwordFile, "utf8").replace(/\r?\n$/, "") });
    } catch (error) {
      return invalid(`cannot read MYSQL_PASSWORD_FILE: ${(error as NodeJS.ErrnoException).code ?? "error"}`);
    }
  }

  /** A copy with some fields changed. */
  with(changes: Partial<MySQLConfigFields>): MySQLConfig {
    return new MySQLConfig({ ...this.#fields(), ...changes });
  }

  /** Options for `mysql2.createPool`. Holds the password: never log the result. */
  poolOptions(): PoolOptions {
    const ssl = this.#ssl();
    return {
      host: this.host,
      port: this.port,
      user: this.user,
      password: this.#password,
      database: this.database,
      ...(this.socketPath !== undefined && { socketPath: this.socketPath }),
      ...(ssl !== undefined && { ssl }),
      connectionLimit: this.connectionLimit,
      connectTimeout: this.connectTimeoutMs,
      // DATETIME values are written and read as UTC, whatever the server's time zone.
      timezone: "Z",
      charset: "utf8mb4_0900_ai_ci",
      enableKeepAlive: true,
      waitForConnections: true,
      maxIdle: this.connectionLimit,
      idleTimeout: 60_000,
    };
  }

  toString(): string {
    const auth = `${encodeURIComponent(this.user)}${this.#password ? ":***" : ""}`;
    return `mysql://${auth}@${this.socketPath ?? `${this.host}:${this.port}`}/${this.database}`;
  }

  toJSON() {
    const { password: _, sslKey, ...rest } = this.#fields();
    return { ...rest, password: this.#password ? "***" : "", sslCa: rest.sslCa && "<pem>", sslCert: rest.sslCert && "<pem>", sslKey: sslKey && "***" };
  }

  [Symbol.for("nodejs.util.inspect.custom")]() {
    return `MySQLConfig<${this.toString()}>`;
  }

  #ssl(): PoolOptions["ssl"] {
    // The constructor made sure VERIFY_CA and VERIFY_IDENTITY have a CA.
    const ca = { ...(this.sslCa !== undefined && { ca: this.sslCa }) };
    switch (this.sslMode) {
      case "DISABLED":
      case "PREFERRED":
        // mysql2 has no opportunistic TLS: PREFERRED connects without it. Use REQUIRED in production.
        return undefined;
      case "REQUIRED":
        return { rejectUnauthorized: false, ...this.#clientCert() };
      case "VERIFY_CA":
        // mysql2 checks the host name only with verifyIdentity (a checkServerIdentity option is ignored).
        return { ...ca, rejectUnauthorized: true, verifyIdentity: false, ...this.#clientCert() };
      case "VERIFY_IDENTITY":
        return { ...ca, rejectUnauthorized: true, verifyIdentity: true, ...this.#clientCert() };
    }
  }

  #clientCert() {
    return { ...(this.sslCert && { cert: this.sslCert }), ...(this.sslKey && { key: this.sslKey }) };
  }

  #fields(): MySQLConfigFields {
    return {
      host: this.host,
      port: this.port,
      user: this.user,
      password: this.#password,
      database: this.database,
      socketPath: this.socketPath,
      tablePrefix: this.tablePrefix,
      sslMode: this.sslMode,
      sslCa: this.sslCa,
      sslCert: this.sslCert,
      sslKey: this.sslKey,
      connectionLimit: this.connectionLimit,
      connectTimeoutMs: this.connectTimeoutMs,
      ttlSeconds: this.ttlSeconds,
      createTables: this.createTables,
    };
  }
}
