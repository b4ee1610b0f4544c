import { CheckpointerError } from "../errors.js";

/** mysql2 error fields worth keeping; never the SQL text or parameters. */
interface DriverError {
  code?: string;
  errno?: number;
  sqlState?: string;
  fatal?: boolean;
  message?: string;
}

const UNAVAILABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "PROTOCOL_CONNECTION_LOST",
  "PROTOCOL_SEQUENCE_TIMEOUT",
  "PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR",
  "ER_CON_COUNT_ERROR",
  "ER_SERVER_SHUTDOWN",
  // Refused logins: during a password rotation the next try may succeed, so this is not SCHEMA.
  "ER_ACCESS_DENIED_ERROR",
  "ER_CLIENT_INTERACTION_TIMEOUT",
  "ER_SERVER_OFFLINE_MODE",
  "ER_OPTION_PREVENTS_STATEMENT", // read-only replica (super_read_only)
  // Group Replication, while the primary changes or after this member left the group: the
  // transaction was rolled back, and the next try (through MySQL Router) reaches the new primary.
  "ER_OPERATION_NOT_ALLOWED_WHILE_PRIMARY_CHANGE_IS_RUNNING",
  "ER_RUN_HOOK_ERROR",
  "ER_TRANSACTION_ROLLBACK_DURING_COMMIT",
]);

/** Errors after which the whole transaction was rolled back and may simply be run again. */
export function isRetryable(error: unknown): boolean {
  const code = (error as DriverError)?.code;
  return code === "ER_LOCK_DEADLOCK" || code === "ER_LOCK_WAIT_TIMEOUT";
}

/**
 * The server is read-only (super_read_only): a demoted primary, or a replica that a stale DNS name
 * or a static proxy still points at. It stays so, so its connections are not worth keeping.
 */
export function isReadOnly(error: unknown): boolean {
  return (error as DriverError)?.code === "ER_OPTION_PREVENTS_STATEMENT";
}

export function isDuplicateKey(error: unknown): boolean {
  return (error as DriverError)?.code === "ER_DUP_ENTRY";
}

/** A DDL step that another replica (or an interrupted run) already applied. */
export function isAlreadyApplied(error: unknown): boolean {
  const code = (error as DriverError)?.code;
  return code === "ER_DUP_FIELDNAME" || code === "ER_DUP_KEYNAME";
}

export function isMissingTable(error: unknown): boolean {
  return (error as DriverError)?.code === "ER_NO_SUCH_TABLE";
}

export function isAccessDenied(error: unknown): boolean {
  const code = (error as DriverError)?.code;
  return code === "ER_TABLEACCESS_DENIED_ERROR" || code === "ER_DBACCESS_DENIED_ERROR" || code === "ER_SPECIFIC_ACCESS_DENIED_ERROR";
}

/** A summary of a driver error that is safe to log: code and server message, no SQL, no values. */
export function describeDriverError(error: unknown): string {
  const e = error as DriverError;
  return [e?.code, e?.message].filter(Boolean).join(": ") || String(error);
}

/**
 * Maps a mysql2 error to a `CheckpointerError`; the driver error is kept only as a safe summary.
 * `UNAVAILABLE` (retry later) is for outages only: a lost connection, a server that is down, full,
 * read-only or refusing logins, or a pool that is closed or full. A statement the server refuses
 * for any other reason (a database that does not exist, a missing table or column, SQL an older
 * server cannot parse) is `SCHEMA`: retrying will not help. A programming error (a `TypeError`,
 * say) is a bug, not a store failure: it is rethrown as it is.
 */
export function toCheckpointerError(error: unknown, maxAllowedPacket?: number): CheckpointerError {
  if (error instanceof CheckpointerError) return error;
  if (error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError || error instanceof SyntaxError) throw error;
  const e = error as DriverError;
  const cause = { cause: { code: e?.code, errno: e?.errno, sqlState: e?.sqlState, message: e?.message } };
  const summary = describeDriverError(error);
  if (e?.code === "ER_NET_PACKET_TOO_LARGE" || e?.code === "ER_TOO_BIG_ROWSIZE" || e?.code === "ER_WARN_ALLOWED_PACKET_OVERFLOWED") {
    const limit = maxAllowedPacket ? ` (max_allowed_packet is ${maxAllowedPacket} bytes)` : "";
    return new CheckpointerError("TOO_LARGE", `checkpoint is larger than the MySQL server accepts${limit}: ${summary}`, cause);
  }
  if (isDuplicateKey(error)) return new CheckpointerError("CONFLICT", `already exists: ${summary}`, cause);
  // MAX_EXECUTION_TIME stopped a search: the server is busy, or the search is too broad for now.
  if (e?.code === "ER_QUERY_TIMEOUT") return new CheckpointerError("UNAVAILABLE", `MySQL stopped a search that took too long: ${summary}`, cause);
  if (isRetryable(error)) return new CheckpointerError("CONFLICT", `gave up after repeated lock conflicts: ${summary}`, cause);
  // Before the fatal check: the driver marks every error of a refused connection fatal.
  if (e?.code === "ER_BAD_DB_ERROR") {
    return new CheckpointerError("SCHEMA", `the database in the MySQL URL does not exist (${summary}); create it, or fix the URL`, cause);
  }
  // Without a code: the pool's own state ("Pool is closed.", "Queue limit reached.").
  if (e?.code === undefined || UNAVAILABLE.has(e.code) || e.fatal) {
    return new CheckpointerError("UNAVAILABLE", `MySQL is unavailable: ${summary}`, cause);
  }
  if (isMissingTable(error)) {
    return new CheckpointerError(
      "SCHEMA",
      `checkpointer tables are missing (${summary}); call ensureSchema() as a user with CREATE rights, or run the SQL of renderSchemaSql()`,
      cause,
    );
  }
  return new CheckpointerError(
    "SCHEMA",
    `MySQL refused the checkpointer's statement (${summary}); the module needs MySQL 8.0.19 or later and its own tables as renderSchemaSql() creates them`,
    cause,
  );
}
