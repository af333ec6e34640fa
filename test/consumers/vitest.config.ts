import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** `npm run test:consumers`: the packed package in separate consumer projects (see consumers.test.ts). */
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/consumers/consumers.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 240_000,
  },
});
