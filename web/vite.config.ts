// Vite builds the dashboard (web/dashboard) into web/static/app, the directory
// that web/embed.go embeds into the hub binary. Vitest runs the unit tests of
// the client and the dashboard.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = fileURLToPath(new URL('.', import.meta.url));

// The hub the dev server proxies /v1 and /healthz to (npm run dev).
const hub = process.env['HUB_URL'] ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root: `${here}dashboard`,
  base: '/',
  build: {
    outDir: `${here}static/app`,
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: {
      '/v1': { target: hub, ws: true, changeOrigin: true },
      '/healthz': { target: hub, changeOrigin: true },
    },
  },
  test: {
    root: here,
    include: ['client/**/*.test.ts', 'dashboard/**/*.test.ts'],
    environment: 'node',
    testTimeout: 10_000,
  },
});
