import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "../app/support/app-process.js";
import { isCI } from "../support/ci.js";

describe("isCI: where nothing may skip", () => {
  it.each(["true", "1", "yes", "TRUE", "True", "on", "github-actions", " true "])("CI=%j is CI", (value) => {
    expect(isCI({ CI: value })).toBe(true);
  });

  it.each([undefined, "", "0", "false", "FALSE", " False "])("CI=%j is not CI", (value) => {
    expect(isCI({ CI: value })).toBe(false);
  });

  it("is the only place the tests and scripts read CI (a check of CI=true alone would let CI=1 skip)", () => {
    const readers: string[] = [];
    const visit = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          if (entry.name !== "node_modules" && entry.name !== "results") visit(path);
        } else if (/\.(ts|mts|js|mjs|cjs)$/.test(entry.name) && /\benv(\.CI\b|\[\s*["'`]CI["'`]\s*\])/.test(readFileSync(path, "utf8"))) {
          readers.push(relative(REPO, path));
        }
      }
    };
    for (const dir of ["test", "scripts", "bench", "app", ".ci"]) visit(join(REPO, dir));
    expect(readers.sort()).toEqual(["test/support/ci.ts"]);
    // vitest.config.ts and the CI script itself: the config must not read it, the script only sets it.
    expect(readFileSync(join(REPO, "vitest.config.ts"), "utf8")).not.toMatch(/\bCI\b/);
    expect(readFileSync(join(REPO, ".ci/run"), "utf8").match(/\$\{?CI\b/g)).toBeNull();
  });
});
