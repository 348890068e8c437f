import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// The browser tests: one worker, long timeouts, a real stack started by e2e/stack.ts.
export default defineConfig({
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  test: {
    include: ["e2e/**/*.e2e.ts"],
    environment: "node",
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 240_000,
  },
});
