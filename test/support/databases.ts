import { randomBytes } from "node:crypto";
import mysql from "mysql2/promise";

/** Root URL with another database name. */
export function withDatabase(rootUrl: string, database: string): string {
  const url = new URL(rootUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * A new, empty database on the test server, so each suite has isolated storage.
 * `drop()` removes it.
 */
export async function freshDatabase(rootUrl: string, label = "t"): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const name = `${label}_${randomBytes(5).toString("hex")}`;
  const admin = await mysql.createConnection(rootUrl);
  try {
    await admin.query(`CREATE DATABASE \`${name}\``);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(rootUrl, name),
    drop: async () => {
      const conn = await mysql.createConnection(rootUrl);
      try {
        await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await conn.end();
      }
    },
  };
}
