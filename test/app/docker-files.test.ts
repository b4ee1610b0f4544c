// The Compose stack and the image's files, checked without starting anything: `docker compose
// config` (Compose v2, as the README uses it) validates and resolves docker-compose.yml.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanEnv, REPO } from "./support/app-process.js";
import { isCI } from "../support/ci.js";

const composeMissing = spawnSync("docker", ["compose", "version"]).status !== 0;
// CI has Compose v2 (scripts/local-docker.sh): there, a missing one must fail the run rather than skip it.
const skipCompose = composeMissing && !isCI();

describe.skipIf(skipCompose)("docker-compose.yml (docker compose config)", () => {
  let project: string;
  /** Runs `docker compose` in a copy of the project, with only the given variables in its environment. */
  const compose = (args: string[], env: Record<string, string> = {}) =>
    spawnSync("docker", ["compose", ...args], {
      cwd: project,
      env: cleanEnv({ ...(process.env.DOCKER_CONFIG ? { DOCKER_CONFIG: process.env.DOCKER_CONFIG } : {}), ...env }),
      encoding: "utf8",
    });

  beforeAll(() => {
    // A copy, so a developer's own .env in the checkout does not change what is tested.
    project = mkdtempSync(join(tmpdir(), "compose-"));
    copyFileSync(join(REPO, "docker-compose.yml"), join(project, "docker-compose.yml"));
    copyFileSync(join(REPO, ".env.example"), join(project, ".env"));
  });
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  it("is valid with a .env made from .env.example", () => {
    const result = compose(["config", "-q"]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("wires the app to MySQL as its own least-privileged user, after MySQL's init has run", () => {
    const config = compose(["config"]).stdout;
    expect(config).toMatch(/image: mysql:9\.7\n/);
    expect(config).toMatch(/type: volume\n\s+source: mysql-data\n\s+target: \/var\/lib\/mysql/);
    expect(config).toMatch(/source: .*\/mysql-init\n\s+target: \/docker-entrypoint-initdb\.d\n\s+read_only: true/);
    expect(config).toContain("MYSQL_URL: mysql://agent_app@mysql:3306/agent?create-tables=false");
    expect(config).toContain("MYSQL_PASSWORD: change-me-app");
    expect(config).toMatch(/depends_on:\n\s+mysql:\n\s+condition: service_healthy/);
    // The MySQL healthcheck goes over TCP and reads a table the init SQL creates, in the database
    // named as an argument (any name works; in the SQL, `agent-db_1` would be a syntax error).
    expect(config).toMatch(/--protocol=tcp -h127\.0\.0\.1/);
    expect(config).toContain('-D "$$MYSQL_DATABASE" -e "SELECT 1 FROM cp_schema_migrations LIMIT 1"');
    // Not the image's MYSQL_USER (ALL privileges), not root, and nothing that stops --scale.
    expect(config).not.toMatch(/MYSQL_USER|MYSQL_URL: mysql:\/\/root|container_name/);
  });

  it("publishes a port range for --scale app=3", () => {
    const config = compose(["config"], { APP_PORT: "3000-3002" }).stdout;
    expect(config).toMatch(/target: 3000\n\s+published: 3000-3002/);
  });

  it("refuses to start without passwords from .env: none is defaulted", () => {
    rmSync(join(project, ".env"));
    try {
      const result = compose(["config", "-q"]);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/MYSQL_ROOT_PASSWORD|APP_DB_PASSWORD/);
    } finally {
      copyFileSync(join(REPO, ".env.example"), join(project, ".env"));
    }
  });
});

describe("mysql-init/", () => {
  // Sourced or executed (the image's entrypoint does either) are both run for real by the
  // Compose stack test; here, only the order.
  it("runs the schema before the app-user script", () => {
    const files = readdirSync(join(REPO, "mysql-init")).sort();
    expect(files.indexOf("001-checkpointer-schema.sql")).toBeLessThan(files.indexOf("002-app-user.sh"));
  });
});

describe("the image", () => {
  const dockerfile = readFileSync(join(REPO, "Dockerfile"), "utf8").replace(/^#.*\n/gm, "");

  it("builds in stages, runs node directly as the node user, and holds no secrets", () => {
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^CMD \["node", "dist\/app\/main\.js"\]$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n.*\/healthz/m);
    expect(dockerfile).not.toMatch(/PASSWORD|API_KEY|MYSQL_URL/);
    expect(readFileSync(join(REPO, ".dockerignore"), "utf8")).toMatch(/^\.env$/m);
  });
});
