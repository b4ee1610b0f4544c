// The helper scripts say how to use them (commands and settings) on --help, and say plainly that
// they need root when run as another user, rather than failing half-way or asking for a sudo that
// a root user may not have.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const REPO = join(import.meta.dirname, "../..");

const scripts = [
  { name: "mysql-local.sh", settings: ["MYSQL_LOCAL_PORT", "MYSQL_LOCAL_HOME", "MYSQL_LOCAL_DATABASE"], rootCommands: ["start", "stop"] },
  { name: "local-docker.sh", settings: ["LOCAL_DOCKER_HOME"], rootCommands: ["start"] },
];

/**
 * Runs the script with bash, fed on stdin so that any user can read it; as an unprivileged user
 * (nobody, via setpriv) when the tests run as root.
 */
function run(name: string, args: string[], { asUser = false } = {}) {
  const command = ["bash", "-s", "--", ...args];
  const asNobody = asUser && process.getuid?.() === 0;
  const [file, ...rest] = asNobody ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...command] : command;
  return spawnSync(file!, rest, {
    input: readFileSync(join(REPO, "scripts", name)),
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: asNobody ? tmpdir() : (process.env.HOME ?? tmpdir()) },
    encoding: "utf8",
    timeout: 20_000,
  });
}

describe.each(scripts)("scripts/$name", ({ name, settings, rootCommands }) => {
  it.each(["--help", "-h", "help"])("%s prints the usage, with every setting, and exits 0", (flag) => {
    const result = run(name, [flag]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^Usage: scripts/${name.replace(".", "\\.")} COMMAND`));
    for (const setting of settings) expect(result.stdout).toContain(setting);
  });

  it("--help works whatever the settings say", () => {
    const result = spawnSync("bash", ["-s", "--", "--help"], {
      input: readFileSync(join(REPO, "scripts", name)),
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmpdir(), MYSQL_LOCAL_DATABASE: "not valid!" },
      encoding: "utf8",
    });
    expect(result.status).toBe(0);
  });

  it("without a command, or with an unknown one, prints the usage on stderr and exits 2", () => {
    for (const args of [[], ["frobnicate"]]) {
      const result = run(name, args);
      expect(result.status).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain("Usage:");
    }
  });

  it.each(rootCommands)("%s as another user than root says it needs root, and how to run it", (command) => {
    const result = run(name, [command], { asUser: true });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`needs root.*; you are \\S+\\. Run it as root, or with sudo: sudo scripts/${name.replace(".", "\\.")} ${command}\\n$`));
  });
});
