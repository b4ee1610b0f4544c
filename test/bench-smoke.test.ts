// The quick bench runs end to end and writes its results: a smoke test, never a timing assertion.
import { execFile } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";

const mysqlUrl = inject("mysqlUrl");

describe.skipIf(!mysqlUrl)("npm run bench -- --quick", () => {
  it("runs every part and writes a results JSON with each section", { timeout: 180_000 }, async () => {
    const { stdout } = await promisify(execFile)("npx", ["tsx", "bench/run.ts", "--quick"], {
      env: { ...process.env, MYSQL_URL: mysqlUrl! },
      maxBuffer: 16 * 1024 * 1024,
    });
    const file = /^wrote (bench\/results\/\S+\.json)/m.exec(stdout)?.[1];
    expect(file, stdout.slice(-2000)).toBeDefined();
    const results = JSON.parse(readFileSync(file!, "utf8"));
    rmSync(file!);
    expect(results.quick).toBe(true);
    expect(Object.keys(results.parts)).toEqual(["ops", "peers", "app", "scale"]);
    expect(results.parts.ops.data.rows.length).toBeGreaterThan(0);
    expect(results.parts.scale.data.rows.length).toBeGreaterThan(0);
    expect(results.parts.scale.data.plans.every((p: { fullScan: boolean }) => !p.fullScan)).toBe(true);
    expect(results.targets.length).toBeGreaterThan(0);
  });
});
