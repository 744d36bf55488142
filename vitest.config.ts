import { defineConfig } from "vitest/config";

/**
 * Two projects: `unit` (pure code, and the real programs judging rendered files; well under a
 * minute: `npm run test:unit`) and `e2e` (real clusters on real runtimes). `npm test` runs both.
 */
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["test/**/*.test.ts"], exclude: ["test/**/*.e2e.test.ts"] },
      },
      { extends: true, test: { name: "e2e", include: ["test/**/*.e2e.test.ts"] } },
    ],
  },
});
