import { cp } from 'node:fs/promises';
import { defineConfig } from 'tsup';

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

export default defineConfig([
  {
    entry: {
      index: 'src/index.ts',
      testing: 'src/testing/index.ts',
      queue: 'src/queue/index.ts',
      'stores/postgres': 'src/stores/postgres/index.ts',
      http: 'src/http/index.ts',
      ...Object.fromEntries(adapterNames.map((name) => [`adapters/${name}`, `adapters/${name}.ts`])),
    },
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'node20',
    // Subpath entries import the core as `messagepipe`, so an app holds one copy of it (one MessagePipeError class).
    external: ['messagepipe', 'messagepipe/testing'],
    // The PostgreSQL migrations also ship as .sql files, for teams that apply them with their own migration tool.
    onSuccess: async () => {
      await cp('src/stores/postgres/migrations', 'dist/stores/postgres/migrations', { recursive: true });
    },
  },
  {
    // `messagepipe serve | worker | token` (package.json "bin"): ESM only, the shebang kept, never cleaned away.
    entry: { cli: 'src/cli.ts' },
    format: ['esm'],
    dts: false,
    clean: false,
    sourcemap: true,
    target: 'node20',
    external: ['messagepipe', 'messagepipe/testing'],
  },
]);
