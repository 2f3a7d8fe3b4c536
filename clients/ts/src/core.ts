/// Everything but the React hooks (no React import): for Node and non-React front ends.
export * from './client.js';
export * from './machine.js';
export * from './receipts.js';
export * from './schemas.js';
export * from './types.js';
export type { AppRouter, AppRouterJson } from './router.js';
