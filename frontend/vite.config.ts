import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL(".", import.meta.url));

// Built into frontend/dist, which the server serves at `/` (assets under /assets).
export default defineConfig({
  root,
  base: "/",
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
  server: {
    // `npm run dev` against a server on :8000
    proxy: {
      "/api": "http://127.0.0.1:8000",
      "/ws": { target: "ws://127.0.0.1:8000", ws: true },
    },
  },
  // A generous timeout: CI shares a busy 2-core machine; a hang still fails.
  test: { include: ["tests/**/*.test.ts"], environment: "node", testTimeout: 60_000 },
});
