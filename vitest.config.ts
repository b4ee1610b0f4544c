import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 180_000,
    // Suites that start servers or processes share two cores: keep them from crowding each other.
    maxWorkers: 2,
  },
});
