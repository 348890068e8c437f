import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [react()],
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  build: { target: "es2022", sourcemap: false, manifest: true },
  // `npm run dev` proxies the API and the stream to a running `make dev` stack.
  server: {
    proxy: {
      "/v1": "http://127.0.0.1:8080",
      "/ws": { target: "ws://127.0.0.1:8080", ws: true },
    },
  },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
