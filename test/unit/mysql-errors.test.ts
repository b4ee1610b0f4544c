// The driver is faked here only for errors a healthy test server cannot produce on demand.
import { describe, expect, it } from "vitest";
import { toCheckpointerError } from "../../checkpointer/mysql/errors.js";

const driverError = (code: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(`${code} happened`), { code, ...extra });

describe("mysql2 error mapping", () => {
  it.each([
    ["ECONNREFUSED", "UNAVAILABLE"],
    ["PROTOCOL_CONNECTION_LOST", "UNAVAILABLE"],
    ["ER_CON_COUNT_ERROR", "UNAVAILABLE"],
    ["ER_SERVER_SHUTDOWN", "UNAVAILABLE"],
    ["ER_OPTION_PREVENTS_STATEMENT", "UNAVAILABLE"],
    ["ER_OPERATION_NOT_ALLOWED_WHILE_PRIMARY_CHANGE_IS_RUNNING", "UNAVAILABLE"],
    ["ER_RUN_HOOK_ERROR", "UNAVAILABLE"],
    ["ER_TRANSACTION_ROLLBACK_DURING_COMMIT", "UNAVAILABLE"],
    ["ER_NET_PACKET_TOO_LARGE", "TOO_LARGE"],
    ["ER_TOO_BIG_ROWSIZE", "TOO_LARGE"],
    ["ER_DUP_ENTRY", "CONFLICT"],
    ["ER_LOCK_DEADLOCK", "CONFLICT"],
    ["ER_NO_SUCH_TABLE", "SCHEMA"],
    // Not outages: retrying later will not help.
    ["ER_BAD_DB_ERROR", "SCHEMA"],
    ["ER_PARSE_ERROR", "SCHEMA"],
    ["ER_BAD_FIELD_ERROR", "SCHEMA"],
  ])("%s becomes %s", (code, expected) => {
    expect(toCheckpointerError(driverError(code)).code).toBe(expected);
  });

  it("keeps UNAVAILABLE for a dead connection and a closed or full pool, whatever the code", () => {
    expect(toCheckpointerError(driverError("ER_SOMETHING_NEW", { fatal: true })).code).toBe("UNAVAILABLE");
    expect(toCheckpointerError(new Error("Pool is closed.")).code).toBe("UNAVAILABLE");
    // A refused login is fatal too, but an unknown database is not an outage.
    expect(toCheckpointerError(driverError("ER_BAD_DB_ERROR", { fatal: true })).code).toBe("SCHEMA");
  });

  it("rethrows programming errors as they are: a bug is not a store failure", () => {
    const bug = new TypeError("Cannot read properties of undefined");
    expect(() => toCheckpointerError(bug)).toThrow(bug);
  });

  it("names max_allowed_packet in TOO_LARGE errors", () => {
    expect(toCheckpointerError(driverError("ER_NET_PACKET_TOO_LARGE"), 1024).message).toContain("max_allowed_packet is 1024 bytes");
  });

  it("keeps a safe summary as the cause: no SQL text, no parameters", () => {
    const error = toCheckpointerError(driverError("ER_DUP_ENTRY", { errno: 1062, sql: "INSERT ... 'secret state'", values: ["secret state"] }));
    expect(error.cause).toEqual({ code: "ER_DUP_ENTRY", errno: 1062, sqlState: undefined, message: "ER_DUP_ENTRY happened" });
    expect(JSON.stringify(error.cause)).not.toContain("secret state");
  });
});
