import { defineConfig } from 'vite';

// `npm run dev` serves the UI with hot reload and sends API calls to a running arbor
// (ARBOR_URL, default http://127.0.0.1:3200). The production build is embedded in the
// binary by crates/arbor-server/build.rs.
declare const process: { env: Record<string, string | undefined> };
const api = process.env.ARBOR_URL ?? 'http://127.0.0.1:3200';

export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    target: 'es2022',
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: { '/api': api },
  },
});
