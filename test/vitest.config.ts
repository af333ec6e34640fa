import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    alias: [
      {
        find: /^messagepipe\/testing$/,
        replacement: fileURLToPath(new URL('../src/testing/index.ts', import.meta.url)),
      },
      {
        find: /^messagepipe\/adapters\/(.*)$/,
        replacement: fileURLToPath(new URL('../adapters/$1.ts', import.meta.url)),
      },
      { find: /^messagepipe$/, replacement: fileURLToPath(new URL('../src/index.ts', import.meta.url)) },
    ],
  },
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['test/**/*.test.ts'],
    // The consumer projects test the built package: `npm run test:consumers`, after the build.
    exclude: [...configDefaults.exclude, 'test/consumers/**'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
