import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { CheckpointerError, MySQLConfig } from "../../checkpointer/index.js";

const SECRET = "s3cr:t/P@ss%word";
const url = `mysql://app:${encodeURIComponent(SECRET)}@db.example:3310/agent`;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CheckpointerError);
    return (error as CheckpointerError).code;
  }
  return undefined;
}

describe("MySQLConfig", () => {
  it("parses a mysql:// URL, decoding user and password", () => {
    const config = MySQLConfig.fromUrl(url);
    expect(config).toMatchObject({ host: "db.example", port: 3310, user: "app", database: "agent", tablePrefix: "cp_", createTables: true });
    expect(config.poolOptions()).toMatchObject({ host: "db.example", port: 3310, user: "app", password: SECRET, database: "agent", timezone: "Z" });
  });

  it("defaults host, port, user and TLS", () => {
    const config = MySQLConfig.fromUrl("mysql:///agent");
    expect(config).toMatchObject({ host: "127.0.0.1", port: 3306, user: "root", sslMode: "PREFERRED" });
    expect(config.poolOptions()).not.toHaveProperty("ssl");
  });

  it("reads the documented URL parameters", () => {
    const config = MySQLConfig.fromUrl(`${url}?table-prefix=app1_&connection-limit=4&connect-timeout=2500&ttl-seconds=3600&create-tables=false`);
    expect(config).toMatchObject({ tablePrefix: "app1_", connectionLimit: 4, connectTimeoutMs: 2500, ttlSeconds: 3600, createTables: false });
  });

  it("maps ssl modes to driver TLS options", () => {
    const dir = mkdtempSync(join(tmpdir(), "cfg-"));
    writeFileSync(join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    expect(MySQLConfig.fromUrl(`${url}?ssl-mode=required`).poolOptions().ssl).toEqual({ rejectUnauthorized: false });
    const identity = MySQLConfig.fromUrl(`${url}?ssl-mode=VERIFY_IDENTITY&ssl-ca=${join(dir, "ca.pem")}`).poolOptions().ssl;
    // mysql2 checks the server's host name only when verifyIdentity is true.
    expect(identity).toMatchObject({ rejectUnauthorized: true, verifyIdentity: true, ca: expect.stringContaining("BEGIN CERTIFICATE") });
    const ca = MySQLConfig.fromUrl(`${url}?ssl-mode=VERIFY_CA&ssl-ca=${join(dir, "ca.pem")}`).poolOptions().ssl;
    expect(ca).toMatchObject({ rejectUnauthorized: true, verifyIdentity: false, ca: expect.stringContaining("BEGIN CERTIFICATE") });
    expect(MySQLConfig.fromUrl(`${url}?ssl-mode=DISABLED`).poolOptions()).not.toHaveProperty("ssl");
  });

  it("rejects bad input with INVALID_INPUT", () => {
    const bad = [
      () => MySQLConfig.fromUrl("postgres://x@y/db"),
      () => MySQLConfig.fromUrl("not a url with secret pw"),
      () => MySQLConfig.fromUrl(`${url}?tabel-prefix=x`),
      () => MySQLConfig.fromUrl(`${url}?table-prefix=bad-prefix`),
      () => MySQLConfig.fromUrl(`${url}?table-prefix=x%60%3B+DROP`),
      () => MySQLConfig.fromUrl("mysql://u@h/bad%20db"),
      () => MySQLConfig.fromUrl("mysql://u@h/"),
      () => MySQLConfig.fromUrl(`${url}?ssl-mode=VERIFY_CA`),
      () => MySQLConfig.fromUrl(`${url}?ssl-mode=sometimes`),
      () => MySQLConfig.fromUrl(`${url}?ssl-ca=/no/such/file.pem`),
      () => MySQLConfig.fromUrl(`${url}?connection-limit=0`),
      () => MySQLConfig.fromUrl(`${url}?create-tables=maybe`),
      () => MySQLConfig.fromUrl("mysql://u@h:70000/db"),
      () => MySQLConfig.fromEnv({}),
      () => MySQLConfig.fromEnv({ MYSQL_URL: url, MYSQL_PASSWORD_FILE: "/no/such/secret" }),
    ];
    for (const fn of bad) expect(codeOf(fn)).toBe("INVALID_INPUT");
  });

  it("never shows the password: toString, JSON, inspect, errors", () => {
    const config = MySQLConfig.fromUrl(url);
    for (const text of [String(config), `${config}`, JSON.stringify(config), inspect(config), inspect({ nested: config }, { depth: 5 })]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(encodeURIComponent(SECRET));
    }
    expect(String(config)).toBe("mysql://app:***@db.example:3310/agent");
    let error: unknown;
    try {
      MySQLConfig.fromUrl(`mysql://app:${SECRET}@[bad`);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CheckpointerError);
    expect(String((error as Error).message)).not.toContain(SECRET);
    expect(String((error as Error).stack)).not.toContain(SECRET);
  });

  it("reads MYSQL_URL from the environment, with the password from MYSQL_PASSWORD_FILE", () => {
    const dir = mkdtempSync(join(tmpdir(), "cfg-"));
    writeFileSync(join(dir, "pw"), "from-secret-file\n");
    const config = MySQLConfig.fromEnv({ MYSQL_URL: "mysql://app@db/agent", MYSQL_PASSWORD_FILE: join(dir, "pw") });
    expect(config.poolOptions().password).toBe("from-secret-file");
    expect(MySQLConfig.fromEnv({ MYSQL_URL: url }).poolOptions().password).toBe(SECRET);
    expect(MySQLConfig.fromEnv({ MYSQL_URL: url, MYSQL_PASSWORD: "apart", MYSQL_PASSWORD_FILE: "" }).poolOptions().password).toBe("apart");
    expect(codeOf(() => MySQLConfig.fromEnv({ MYSQL_URL: url, MYSQL_PASSWORD: "a", MYSQL_PASSWORD_FILE: join(dir, "pw") }))).toBe("INVALID_INPUT");
  });

  it("with() changes fields and keeps the rest", () => {
    const config = MySQLConfig.fromUrl(url).with({ tablePrefix: "x_" });
    expect(config.tablePrefix).toBe("x_");
    expect(config.poolOptions().password).toBe(SECRET);
  });
});
