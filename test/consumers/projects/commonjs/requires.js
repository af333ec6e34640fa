// Loads every package the CommonJS build `require()`s, as the build does. Run with
// `node --no-experimental-require-module`, an ES-module-only package fails here with ERR_REQUIRE_ESM.
const { readdirSync, readFileSync } = require('node:fs');
const { isBuiltin } = require('node:module');
const { dirname, join } = require('node:path');

const dist = join(dirname(require.resolve('messagepipe/package.json')), 'dist');
const specifiers = new Set();
for (const file of readdirSync(dist, { recursive: true })) {
  if (!String(file).endsWith('.cjs')) continue;
  for (const match of readFileSync(join(dist, String(file)), 'utf8').matchAll(/\brequire\("([^"]+)"\)/g)) {
    const specifier = match[1];
    if (!specifier.startsWith('.') && !isBuiltin(specifier) && !/^messagepipe(\/|$)/.test(specifier)) {
      specifiers.add(specifier);
    }
  }
}
const failures = [];
for (const specifier of specifiers) {
  try {
    require(specifier);
  } catch (error) {
    failures.push(`${specifier}: ${error.code} ${String(error.message).split('\n')[0]}`);
  }
}
console.log(JSON.stringify({ required: [...specifiers].sort(), failures }));
if (failures.length > 0) process.exitCode = 1;
