// Builds the package's type declarations: tsc emits dist/types (ES module
// declarations, tsconfig.build.json), then every declaration file that no
// public entry reaches is removed (worker and CLI internals, AssemblyScript
// sources), and each entry gets a CommonJS declaration face (dist/<entry>.d.cts)
// for require('vqsim'), which package.json "exports" names under "require".
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { ENTRIES } from './entries.mjs';

const OUT = 'dist/types';
rmSync(OUT, { recursive: true, force: true });
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });

// Reachability from the entries, through relative specifiers: from '…', import('…'), /// <reference path>.
const SPEC = /(?:from\s+|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]|<reference\s+path=['"]([^'"]+)['"]/g;
const reached = new Set();
const todo = ENTRIES.map((e) => resolve(OUT, 'src/entry', `${e}.d.ts`));
while (todo.length > 0) {
  const file = todo.pop();
  if (reached.has(file)) continue;
  if (!existsSync(file)) throw new Error(`types: ${relative('.', file)} is referenced but was not emitted`);
  reached.add(file);
  for (const m of readFileSync(file, 'utf8').matchAll(SPEC)) {
    const spec = m[1] ?? m[2];
    todo.push(resolve(dirname(file), spec.replace(/\.js$/, '.d.ts')));
  }
}
function prune(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = resolve(dir, e.name);
    if (e.isDirectory()) {
      prune(p);
      if (readdirSync(p).length === 0) rmSync(p, { recursive: true });
    } else if (!reached.has(p)) rmSync(p);
  }
}
prune(OUT);

for (const e of ENTRIES) {
  writeFileSync(`dist/${e}.d.cts`, `export * from './types/src/entry/${e}.js';\n`);
}
console.log(`types: ${reached.size} declaration files reachable from ${ENTRIES.length} entries`);
