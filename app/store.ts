import { resolve } from "node:path";
import type { Logger } from "pino";
import { BackendCheckpointer, getCheckpointer, MySQLBackend, type Checkpointer } from "../checkpointer/index.js";
import type { AgentState } from "./agent/state.js";
import type { AppConfig } from "./config.js";

export interface Store {
  checkpointer: Checkpointer<AgentState>;
  /** What `/healthz` reports: the spec's name, `mysql`, `sqlite` or `memory`. */
  kind: string;
}

/**
 * The checkpointer `config.checkpointer` names, from the module's registry (which reads the MySQL
 * variables from `env`). Logs which store it is, without secrets.
 */
export function openStore(config: AppConfig, logger: Logger, env: Record<string, string | undefined> = process.env): Store {
  const checkpointer = getCheckpointer<AgentState>(config.checkpointer, { env });
  const kind = config.checkpointer.split(":", 1)[0]!;
  const backend = checkpointer instanceof BackendCheckpointer ? checkpointer.backend : undefined;
  if (backend instanceof MySQLBackend) {
    // toString() masks the password.
    logger.info({ checkpointer: kind, url: backend.config.toString(), createTables: backend.config.createTables }, "conversations are stored in MySQL");
  } else if (kind === "sqlite") {
    logger.info(
      { checkpointer: kind, path: resolve(config.checkpointer.slice(kind.length + 1)) },
      "conversations are stored in SQLite (the embedded default; set MYSQL_URL to use MySQL)",
    );
  }
  return { checkpointer, kind };
}
