// The Compose stack and the image, checked without a Docker engine: `docker-compose config`
// validates and resolves docker-compose.yml, and the image's build output is run as the image runs it.
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanEnv, REPO, startAppProcess } from "./support/app-process.js";

const composeMissing = spawnSync("docker-compose", ["version"]).error !== undefined;
// CI installs docker-compose: there, a missing binary must fail the run rather than skip it.
const skipCompose = composeMissing && process.env.CI !== "true";

describe.skipIf(skipCompose)("docker-compose.yml (docker-compose config)", () => {
  let project: string;
  /** Runs docker-compose in a copy of the project, with only the given variables in its environment. */
  const compose = (args: string[], env: Record<string, string> = {}) =>
    spawnSync("docker-compose", args, { cwd: project, env: cleanEnv(env), encoding: "utf8" });

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
    expect(config).toContain("mysql-data:/var/lib/mysql");
    expect(config).toMatch(/\/mysql-init:\/docker-entrypoint-initdb\.d:ro/);
    expect(config).toContain("MYSQL_URL: mysql://agent_app@mysql:3306/agent?create-tables=false");
    expect(config).toContain("MYSQL_PASSWORD: change-me-app");
    expect(config).toMatch(/depends_on:\n\s+mysql:\n\s+condition: service_healthy/);
    // The MySQL healthcheck goes over TCP and reads a table the init SQL creates.
    expect(config).toMatch(/--protocol=tcp -h127\.0\.0\.1/);
    expect(config).toContain("cp_schema_migrations");
    // Not the image's MYSQL_USER (ALL privileges), not root, and nothing that stops --scale.
    expect(config).not.toMatch(/MYSQL_USER|MYSQL_URL: mysql:\/\/root|container_name/);
  });

  it("publishes a port range for --scale app=3", () => {
    const config = compose(["config"], { APP_PORT: "3000-3002" }).stdout;
    expect(config).toMatch(/published: 3000-3002\n\s+target: 3000/);
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
  it("runs the schema, then sources the app-user script (not executable, so the image sources it)", () => {
    const files = readdirSync(join(REPO, "mysql-init")).sort();
    expect(files.indexOf("001-checkpointer-schema.sql")).toBeLessThan(files.indexOf("002-app-user.sh"));
    expect(statSync(join(REPO, "mysql-init/002-app-user.sh")).mode & 0o111).toBe(0);
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

  it("its build output runs as the image runs it: node dist/app/main.js serves the API and the page", async () => {
    // The image's /app: package.json, production node_modules, the compiled dist/ and dist/app/public.
    const root = mkdtempSync(join(tmpdir(), "image-"));
    try {
      execFileSync(join(REPO, "node_modules/.bin/tsc"), ["-p", join(REPO, "tsconfig.build.json"), "--outDir", join(root, "dist")]);
      cpSync(join(REPO, "app/public"), join(root, "dist/app/public"), { recursive: true });
      copyFileSync(join(REPO, "package.json"), join(root, "package.json"));
      symlinkSync(join(REPO, "node_modules"), join(root, "node_modules"));

      const app = await startAppProcess(process.execPath, ["dist/app/main.js"], { cwd: root, env: cleanEnv({ PORT: "0" }) });
      try {
        expect(await (await fetch(`${app.url}/healthz`)).json()).toEqual({ status: "ok", checkpointer: "file" });
        expect(await (await fetch(`${app.url}/`)).text()).toContain("<title>Agent chat</title>");
        expect(await (await fetch(`${app.url}/app.js`)).text()).toContain("/threads");
      } finally {
        app.child.kill("SIGTERM");
      }
      expect(await app.exited).toEqual({ code: 0, signal: null });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 120_000);
});
