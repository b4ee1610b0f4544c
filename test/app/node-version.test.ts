// The app refuses a Node older than its embedded store needs, with one line, before it loads anything else.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { MINIMUM_NODE, nodeVersionProblem } from "../../app/node-version.js";
import { APP_MAIN, cleanEnv, REPO } from "./support/app-process.js";

describe("nodeVersionProblem", () => {
  it.each(["22.13.0", "22.13.1", "22.20.0", "23.0.0", "24.21.0", "v24.0.0", "100.0.0"])("lets Node %s run the app", (version) => {
    expect(nodeVersionProblem(version)).toBeUndefined();
  });

  it.each(["22.12.9", "22.0.0", "20.20.2", "18.19.0", "v16.0.0", "0.10.48"])("refuses Node %s with one line naming both versions", (version) => {
    const problem = nodeVersionProblem(version);
    expect(problem).toBeDefined();
    expect(problem).not.toContain("\n");
    expect(problem).toContain("Node.js 22.13 or newer");
    expect(problem).toContain(`this is Node.js ${version.replace(/^v/, "")}`);
  });

  it("compares numerically, not as text", () => {
    expect(nodeVersionProblem("9.0.0", "10.0.0")).toBeDefined();
    expect(nodeVersionProblem("10.0.0", "9.0.0")).toBeUndefined();
    expect(nodeVersionProblem("22.9.0", "22.13.0")).toBeDefined();
  });

  it("lets through a version it cannot read rather than stop a Node it does not understand", () => {
    expect(nodeVersionProblem("")).toBeUndefined();
    expect(nodeVersionProblem("nightly")).toBeUndefined();
  });

  it("asks for the Node that package.json's engines names", () => {
    const { engines } = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { engines: { node: string } };
    expect(engines.node).toBe(`>=${MINIMUM_NODE.replace(/\.0$/, "")}`);
  });
});

describe("the app on an older Node", () => {
  it("exits 2 with that one line on stderr, having loaded no module but the check", () => {
    const dir = mkdtempSync(join(tmpdir(), "old-node-"));
    try {
      // Loaded after tsx: pretends to be Node 20.1.0 and records every module of the project that
      // the app resolves. The check must run before the app loads anything that may need a newer
      // Node, so only main.ts and the check itself may be resolved.
      const resolved = join(dir, "resolved.txt");
      const preload = join(dir, "pretend-node-20.mjs");
      writeFileSync(
        preload,
        [
          'import { appendFileSync } from "node:fs";',
          'import { registerHooks } from "node:module";',
          'Object.defineProperty(process.versions, "node", { value: "20.1.0" });',
          "registerHooks({",
          "  resolve(specifier, context, next) {",
          "    const result = next(specifier, context);",
          `    if (result.url.startsWith("file:") && !result.url.includes("/node_modules/")) appendFileSync(${JSON.stringify(resolved)}, result.url + "\\n");`,
          "    return result;",
          "  },",
          "});",
        ].join("\n"),
      );
      const [node, [importFlag, tsx, main]] = APP_MAIN;
      // PORT is invalid: were the configuration read first, the app would exit 2 complaining about it.
      const run = spawnSync(node, [importFlag!, tsx!, "--import", pathToFileURL(preload).href, main!], {
        cwd: dir,
        env: cleanEnv({ PORT: "not-a-port", DATA_DIR: dir }),
        encoding: "utf8",
        timeout: 30_000,
      });
      expect(run.stderr).toBe(`${nodeVersionProblem("20.1.0")}\n`);
      expect(run.stdout).toBe("");
      expect(run.status).toBe(2);
      const modules = readFileSync(resolved, "utf8").trim().split("\n").map((url) => url.slice(pathToFileURL(REPO).href.length));
      expect(modules).toEqual(["/app/main.ts", "/app/node-version.ts"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
