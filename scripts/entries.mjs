// The package's public entries: each is src/entry/<name>.ts, bundled to
// dist/<name>.js and named in package.json "exports" ("." is index).
export const ENTRIES = ['index', 'devices', 'transport', 'threads', 'testing'];
