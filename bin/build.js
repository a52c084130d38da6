#!/usr/bin/env node
// `make build`: bundles the Batch container's worker, the demo and the CLI, with the worker threads
// they start, into dist/ (bin/build.ts). Usage: node bin/build.js [--out dist] [--entry NAME ...]
// (NAME: batch-worker, demo or pinnerformer; default all three).
import { parseArgs } from 'node:util';
import { register } from 'tsx/esm/api';

register();
const { buildBundles, DEFAULT_ENTRIES } = await import('./build.ts');
const { values } = parseArgs({
  options: { out: { type: 'string', default: 'dist' }, entry: { type: 'string', multiple: true } },
});
const names = values.entry ?? Object.keys(DEFAULT_ENTRIES);
const unknown = names.filter((name) => !(name in DEFAULT_ENTRIES));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown entry ${unknown.join(', ')}; expected one of ${Object.keys(DEFAULT_ENTRIES).join(', ')}\n`,
  );
  process.exit(2);
}
const entries = Object.fromEntries(names.map((name) => [name, DEFAULT_ENTRIES[name]]));
const bundles = await buildBundles({ outDir: values.out, entries });
process.stdout.write(`bundled ${Object.keys(bundles).join(', ')} into ${values.out}/\n`);
