// The quick bench runs end to end and writes its results: a smoke test, never a timing assertion.
import { execFile } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";
import { missingPeerDeps } from "../bench/peer-deps.js";
import { isCI } from "./support/ci.js";

const mysqlUrl = inject("mysqlUrl");
// The bench's peers are a package of their own (bench/package.json), installed by `npm run bench`;
// without them the smoke test skips, except in CI (test/support/ci.ts).
const missing = missingPeerDeps();
const skipPeers = missing.length > 0 && !isCI();
if (skipPeers) console.warn(`bench smoke test skipped: bench/ dependencies not installed (cd bench && npm ci): ${missing.join(", ")}`);

describe.skipIf(!mysqlUrl || skipPeers)("npm run bench -- --quick", () => {
  it("runs every part and writes a results JSON with each section", { timeout: 180_000 }, async () => {
    expect(missing, "bench/ dependencies are not installed: cd bench && npm ci").toEqual([]);
    const { stdout } = await promisify(execFile)("npx", ["tsx", "bench/run.ts", "--quick"], {
      env: { ...process.env, MYSQL_URL: mysqlUrl! },
      maxBuffer: 16 * 1024 * 1024,
    });
    const file = /^wrote (bench\/results\/\S+\.json)/m.exec(stdout)?.[1];
    expect(file, stdout.slice(-2000)).toBeDefined();
    const results = JSON.parse(readFileSync(file!, "utf8"));
    rmSync(file!);
    expect(results.quick).toBe(true);
    expect(Object.keys(results.parts)).toEqual(["ops", "peers", "app", "scale", "long", "sqlite", "storage", "tracing", "turn-stream"]);
    expect(results.parts.tracing.data.exports).toBeGreaterThan(0);
    // Every persisted turn of each store and model wrote its events to the turn log (the part fails on a count that does not add up).
    const streamed: { samples: Record<string, number[]>; turnEventsRows: number[] }[] = results.parts["turn-stream"].data.rows;
    expect(streamed.length).toBe(4);
    for (const row of streamed) {
      expect(row.turnEventsRows.length).toBe(row.samples.persisted!.length);
      expect(Math.min(...row.turnEventsRows)).toBeGreaterThan(0);
    }
    expect(results.parts.long.data.stored.rows).toBe(results.parts.long.data.turns);
    expect(results.parts.ops.data.rows.length).toBeGreaterThan(0);
    expect(results.parts.scale.data.rows.length).toBeGreaterThan(0);
    expect(results.parts.scale.data.plans.every((p: { fullScan: boolean }) => !p.fullScan)).toBe(true);
    expect(results.parts.sqlite.data.rows.length).toBeGreaterThan(0);
    expect(results.parts.sqlite.data.long.rows.n).toBe(results.parts.sqlite.data.long.turns);
    // MySQL and SQLite, one process and two replicas: one row per turn in each.
    expect(results.parts.storage.data.rows.map((r: { stored: { rows: number } }) => r.stored.rows)).toEqual(Array(4).fill(results.parts.storage.data.turns));
    expect(results.targets.length).toBeGreaterThan(0);
  });
});
