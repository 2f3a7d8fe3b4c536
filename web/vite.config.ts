import { defineConfig } from 'vite';

// The dashboard is plain React + TypeScript; esbuild compiles the JSX (no extra plugin).
// `@vigil/client` is linked from ../clients/ts, which has its own node_modules: dedupe makes
// both sides use this package's single React and TanStack Query (hooks need one instance).
export default defineConfig({
  base: './',
  esbuild: { jsx: 'automatic' },
  resolve: { dedupe: ['react', 'react-dom', '@tanstack/react-query'] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    rollupOptions: {
      // TanStack Query marks its modules "use client" (for server components); harmless here.
      onwarn(warning, warn) {
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  server: {
    // `npm run dev` proxies the API to a vigild on 3001.
    proxy: {
      '/api/trpc': { target: 'http://127.0.0.1:3001', ws: true },
      '/metrics': 'http://127.0.0.1:3001',
    },
  },
});
