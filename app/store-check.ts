// The app's one look at its store at start-up, so that a wrong MYSQL_URL is in the log at once
// rather than first seen as a 503.
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { BackendCheckpointer, isCheckpointerError, MySQLBackend, type Checkpointer } from "../checkpointer/index.js";

/** Within this the check logs its outcome: a connection attempt may hang far longer (mysql2 waits 10 s). */
export const STORE_CHECK_TIMEOUT_MS = 4_000;

export interface StoreLocation {
  /** `host:port` (or the socket path) for MySQL; the checkpointer spec for any other store. */
  where: string;
  /** The MySQL URL with its password masked. */
  url?: string;
  /** Text that must never reach the log (the password), should a message ever carry it. */
  secrets: string[];
}

/** Where `checkpointer` keeps its data, without secrets; `spec` is the app's `checkpointer` setting. */
export function storeLocation(checkpointer: Checkpointer<unknown>, spec: string): StoreLocation {
  const backend = checkpointer instanceof BackendCheckpointer ? checkpointer.backend : undefined;
  if (!(backend instanceof MySQLBackend)) return { where: spec, secrets: [] };
  const { config } = backend;
  const password = config.poolOptions().password;
  return {
    where: config.socketPath ?? `${config.host.includes(":") ? `[${config.host}]` : config.host}:${config.port}`,
    // toString() masks the password.
    url: config.toString(),
    secrets: typeof password === "string" && password !== "" ? [password] : [],
  };
}

/**
 * Asks the store one cheap question (does a thread exist) and logs the outcome within `timeoutMs`:
 * info when it answers, error (naming where, and why) when it fails or stays silent. Resolves true
 * when it answered. Never throws, and never holds the process open: the app keeps running either
 * way (`/healthz` answers 503 and requests retry until the store answers).
 */
export async function checkStore(
  checkpointer: Checkpointer<unknown>,
  location: StoreLocation,
  logger: Logger,
  timeoutMs: number = STORE_CHECK_TIMEOUT_MS,
): Promise<boolean> {
  const { where, url } = location;
  const timer = new AbortController();
  let reason: string;
  let code: string | undefined;
  try {
    const answered = await Promise.race([
      checkpointer.exists("__startup_check__").then(() => true),
      sleep(timeoutMs, false, { signal: timer.signal, ref: false }),
    ]);
    if (answered) {
      logger.info({ store: where }, "the conversation store answers");
      return true;
    }
    reason = `no answer within ${timeoutMs} ms`;
  } catch (error) {
    reason = error instanceof Error ? error.message : String(error);
    if (isCheckpointerError(error)) code = error.code;
  } finally {
    timer.abort();
  }
  for (const secret of location.secrets) reason = reason.replaceAll(secret, "***");
  logger.error(
    { store: where, ...(url !== undefined && { url }), code, reason },
    `cannot use the conversation store at ${where}: ${reason} (requests get 503 until it answers)`,
  );
  return false;
}
