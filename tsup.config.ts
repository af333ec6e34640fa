import { cp, rm } from 'node:fs/promises';
import { defineConfig, type Options } from 'tsup';

/** Every adapter is its own entry (and subpath export), so an app loads only the SDKs it uses. */
export const adapterNames = [
  'sendgrid',
  'mailgun',
  'postmark',
  'ses',
  'smtp',
  'twilio',
  'termii',
  'sns',
] as const;

/**
 * Dependencies published only as ES modules: p-retry 7 and its own dependency is-network-error, and jose 6 (the
 * optional peer of `messagepipe/http`'s JWT auth). The
 * CommonJS build carries a copy of them, so `require('messagepipe')` never has to `require()` an ES module: that
 * fails with ERR_REQUIRE_ESM where require(esm) is missing (Node < 20.19, Jest's default mode), and where it exists
 * the default import arrives as the module object, not the function. The ESM build keeps them external.
 */
export const esmOnlyDependencies = ['p-retry', 'is-network-error', 'jose'];

const shared: Options = {
  entry: {
    index: 'src/index.ts',
    testing: 'src/testing/index.ts',
    queue: 'src/queue/index.ts',
    webhooks: 'adapters/webhooks/index.ts',
    http: 'src/http/index.ts',
    'stores/postgres': 'src/stores/postgres/index.ts',
    ...Object.fromEntries(adapterNames.map((name) => [`adapters/${name}`, `adapters/${name}.ts`])),
  },
  // `@internal` helpers (exported for this repository's tests) stay out of the published types, so an app that
  // type-checks its libraries (`skipLibCheck: false`) never compiles an SDK's types it does not use.
  dts: { compilerOptions: { stripInternal: true } },
  // Two builds write into dist/ at once, so neither may clean it: the config function below empties it first.
  clean: false,
  sourcemap: true,
  target: 'node20',
  // Subpath entries import the core as `messagepipe`, so an app holds one copy of it (one MessagePipeError class).
  external: ['messagepipe', 'messagepipe/testing'],
};

export default defineConfig(async () => {
  await rm('dist', { recursive: true, force: true });
  return [
    {
      ...shared,
      format: 'esm',
      // The PostgreSQL migrations also ship as .sql files, for teams that apply them with their own migration tool.
      onSuccess: async () => {
        await cp('src/stores/postgres/migrations', 'dist/stores/postgres/migrations', { recursive: true });
      },
    },
    {
      ...shared,
      format: 'cjs',
      noExternal: esmOnlyDependencies,
      esbuildOptions(options) {
        // `import()` of an SDK becomes `require()`: a CommonJS consumer resolves the SDK's CommonJS build, and Jest's
        // default mode (which refuses `import()` without --experimental-vm-modules) can load it.
        options.supported = { ...options.supported, 'dynamic-import': false };
      },
    },
    {
      // `messagepipe serve | worker | token` (package.json "bin"): ESM only, the shebang kept.
      entry: { cli: 'src/cli.ts' },
      format: 'esm',
      dts: false,
      clean: false,
      sourcemap: true,
      target: 'node20',
      external: ['messagepipe', 'messagepipe/testing'],
    },
  ];
});
