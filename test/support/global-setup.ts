import type { TestProject } from "vitest/node";
import { resolveMySQL } from "./mysql-server.js";
import { ciSetting, isCI } from "./ci.js";
import "./provided-context.js";

/**
 * Finds the MySQL server the integration tests use: MYSQL_URL, else a testcontainers
 * `mysql` container where a Docker runtime answers, else none. In CI (./ci.ts), none is a failure.
 */
export default async function setup(project: TestProject) {
  const server = await resolveMySQL();
  if (!server.url && isCI()) {
    throw new Error(`${ciSetting()}, yet no MySQL server for the integration tests: ${server.reason}`);
  }
  if (!server.url) console.warn(`\n[integration] skipping MySQL tests: ${server.reason}\n`);
  else console.log(`[integration] MySQL: ${server.description}`);
  project.provide("mysqlUrl", server.url);
  project.provide("mysqlSkipReason", server.reason);
  project.provide("dockerAvailable", server.dockerAvailable);
  return server.stop;
}
