import { resolve } from "node:path";
import type { Logger } from "pino";
import { FileCheckpointer, MySQLConfig, mysqlCheckpointer, type Checkpointer } from "../checkpointer/index.js";
import type { AgentState } from "./agent/state.js";
import type { AppConfig } from "./config.js";

export interface Store {
  checkpointer: Checkpointer<AgentState>;
  /** What `/healthz` reports: `mysql` or `file`. */
  kind: string;
}

/** MySQL when `MYSQL_URL` is set, else the embedded file checkpointer. Logs which, without secrets. */
export function openStore(config: AppConfig, logger: Logger): Store {
  if (config.mysql) {
    let mysql = MySQLConfig.fromEnv({ MYSQL_URL: config.mysql.url, MYSQL_PASSWORD_FILE: config.mysql.passwordFile });
    if (config.mysql.password !== undefined) mysql = mysql.with({ password: config.mysql.password });
    // toString() masks the password.
    logger.info({ checkpointer: "mysql", url: mysql.toString(), createTables: mysql.createTables }, "conversations are stored in MySQL");
    return { checkpointer: mysqlCheckpointer<AgentState>(mysql), kind: "mysql" };
  }
  const directory = resolve(config.dataDir);
  logger.info(
    { checkpointer: "file", directory },
    "conversations are stored in files (the embedded default; set MYSQL_URL to use MySQL)",
  );
  return { checkpointer: new FileCheckpointer<AgentState>({ directory }), kind: "file" };
}
