// Whether this run is CI, where nothing may skip: a missing MySQL, Docker, browser or private
// server must fail the run instead. CI systems set CI to "true", "1", "yes" or their own name;
// only unset, "", "0" and "false" (any case) mean not CI. Every check of CI in the tests goes
// through here (test/unit/ci.test.ts makes sure).

/** True unless `env.CI` is unset, "", "0" or "false", in any case and ignoring spaces. */
export function isCI(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return !["", "0", "false"].includes((env.CI ?? "").trim().toLowerCase());
}

/** `CI=<value>` as set, for messages that say why a run failed instead of skipping. */
export function ciSetting(): string {
  return `CI=${process.env.CI ?? ""}`;
}
