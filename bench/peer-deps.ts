// The bench's own dependencies (bench/package.json: the PostgreSQL and SQLite savers and their
// drivers) are a package apart, so installing the template never builds better-sqlite3.
// `npm run bench` runs this file first: it installs them when they are missing or out of date.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const BENCH = fileURLToPath(new URL(".", import.meta.url));

/** Packages bench/package-lock.json names that bench/node_modules lacks (or holds at another version). */
export function missingPeerDeps(): string[] {
  const wanted = JSON.parse(readFileSync(`${BENCH}package-lock.json`, "utf8")).packages as Record<string, { version?: string }>;
  return Object.entries(wanted)
    .filter(([path]) => path.startsWith("node_modules/"))
    .filter(([path, { version }]) => {
      const installed = `${BENCH}${path}/package.json`;
      return !existsSync(installed) || JSON.parse(readFileSync(installed, "utf8")).version !== version;
    })
    .map(([path]) => path.slice("node_modules/".length));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const missing = missingPeerDeps();
  if (missing.length > 0) {
    console.log(`bench: installing its own dependencies (${missing.length} packages missing): npm ci in bench/`);
    // In the folder, not with --prefix: --prefix also moves npm's global config (and a CA file set there).
    execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: BENCH, stdio: "inherit" });
  }
}
