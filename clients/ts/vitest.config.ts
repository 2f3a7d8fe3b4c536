import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60000,
    hookTimeout: 30000,
    pool: 'forks',
    fileParallelism: false,
  },
});
