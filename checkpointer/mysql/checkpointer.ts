import { BackendCheckpointer, type CheckpointerOptions } from "../backend-checkpointer.js";
import { MySQLConfig, type MySQLConfigFields } from "./config.js";
import { MySQLBackend, type MySQLBackendOptions } from "./backend.js";

/** A `Checkpointer<S>` on MySQL, with a typed `backend` for `ensureSchema()` and the pool. */
export type MySQLCheckpointer<S> = BackendCheckpointer<S> & { readonly backend: MySQLBackend };

/**
 * The MySQL checkpointer.
 *
 * @example
 * const cp = mysqlCheckpointer<AgentState>(process.env.MYSQL_URL!);
 * await cp.save(state, "user-42");
 * const again = await cp.load("user-42");
 */
export function mysqlCheckpointer<S = unknown>(
  config: MySQLConfig | MySQLConfigFields | string,
  options: CheckpointerOptions<S> & MySQLBackendOptions = {},
): MySQLCheckpointer<S> {
  const resolved =
    config instanceof MySQLConfig ? config : typeof config === "string" ? MySQLConfig.fromUrl(config) : new MySQLConfig(config);
  return new BackendCheckpointer<S>(new MySQLBackend(resolved, options), options) as MySQLCheckpointer<S>;
}
