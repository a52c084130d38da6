#!/usr/bin/env node
// `npm run bench`: runs the TypeScript benchmark (bench/main.ts) through tsx, like bin/pinnerformer.js.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../bench/main.ts');
await main(process.argv);
