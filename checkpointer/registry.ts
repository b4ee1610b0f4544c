import { CheckpointerError } from "./errors.js";
import { MemoryCheckpointer, SQLiteCheckpointer } from "./sqlite/checkpointer.js";
import { MySQLConfig } from "./mysql/config.js";
import { mysqlCheckpointer } from "./mysql/checkpointer.js";
import type { Checkpointer } from "./types.js";

export interface CheckpointerSpecOptions {
  /** Where `"mysql"` reads `MYSQL_URL`, `MYSQL_PASSWORD` and `MYSQL_PASSWORD_FILE`; `process.env` by default. */
  env?: Record<string, string | undefined> | undefined;
}

/** Makes a checkpointer from a spec string such as `sqlite:./data/checkpoints.db`; the name is the part before `:`. */
export type CheckpointerFactory = (spec: string, options: CheckpointerSpecOptions) => Checkpointer<unknown>;

const factories = new Map<string, CheckpointerFactory>([
  ["memory", () => new MemoryCheckpointer()],
  [
    "sqlite",
    (spec) => {
      const path = spec.slice("sqlite:".length);
      if (!path) throw new CheckpointerError("INVALID_INPUT", 'sqlite checkpointer needs a file: "sqlite:<path>" (or "memory")');
      return new SQLiteCheckpointer({ path });
    },
  ],
  [
    "file",
    () => {
      throw new CheckpointerError(
        "INVALID_INPUT",
        'the "file:" store was replaced by SQLite: use "sqlite:<path to a .db file>", e.g. "sqlite:./data/checkpoints.db"',
      );
    },
  ],
  ["mysql", (spec, { env }) => mysqlCheckpointer(spec === "mysql" ? MySQLConfig.fromEnv(env) : MySQLConfig.fromUrl(spec))],
]);

/**
 * A checkpointer from a spec: `"memory"`, `"sqlite:<path>"`, `"mysql"` (reads `MYSQL_URL` and the
 * password variables of `MySQLConfig.fromEnv`), `"mysql://user:pass@host:port/db"`, or any name
 * given to `registerCheckpointer`.
 */
export function getCheckpointer<S = unknown>(spec: string, options: CheckpointerSpecOptions = {}): Checkpointer<S> {
  if (typeof spec !== "string" || spec === "") throw new CheckpointerError("INVALID_INPUT", "checkpointer spec must be a non-empty string");
  const name = spec.split(":", 1)[0]!.toLowerCase();
  const factory = factories.get(name);
  if (!factory) {
    throw new CheckpointerError("INVALID_INPUT", `unknown checkpointer ${JSON.stringify(name)}; known: ${listCheckpointers().join(", ")}`);
  }
  return factory(spec, options) as Checkpointer<S>;
}

/** Adds (or replaces) a named checkpointer for `getCheckpointer`. */
export function registerCheckpointer(name: string, factory: CheckpointerFactory): void {
  if (!/^[a-z][a-z0-9+.-]*$/.test(name)) {
    throw new CheckpointerError("INVALID_INPUT", "checkpointer name must be lower-case letters, digits, '+', '.' or '-'");
  }
  factories.set(name, factory);
}

export function listCheckpointers(): string[] {
  return [...factories.keys()].sort();
}
