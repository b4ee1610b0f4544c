// The oldest Node the app runs on, checked by main.ts before anything else is loaded. This module
// imports nothing, so it loads on any Node that can run the entry point at all.

/** The embedded store needs `node:sqlite` without a flag: Node 22.13. package.json's `engines` says the same. */
export const MINIMUM_NODE = "22.13.0";

function parts(version: string): [number, number, number] | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

/**
 * Why this Node (`process.versions.node`, e.g. "20.20.2") cannot run the app, as one line; undefined
 * when it can. A version that cannot be read is let through: the check must not stop a Node it
 * does not understand.
 */
export function nodeVersionProblem(version: string, minimum: string = MINIMUM_NODE): string | undefined {
  const have = parts(version);
  const need = parts(minimum);
  if (!have || !need) return undefined;
  for (let i = 0; i < 3; i++) {
    if (have[i]! > need[i]!) return undefined;
    if (have[i]! < need[i]!) {
      const short = minimum.replace(/\.0$/, "");
      return (
        `This app needs Node.js ${short} or newer (its embedded store uses node:sqlite); this is Node.js ${version.replace(/^v/, "")}. ` +
        `Install Node 24 (for example \`nvm install 24\`, or https://nodejs.org), or run the app with Docker.`
      );
    }
  }
  return undefined;
}
