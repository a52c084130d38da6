#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx, so `npx pinnerformer` works right after `npm ci`
// with no build step (`make build` also bundles it as dist/pinnerformer.mjs, whose worker threads
// start without transpiling the sources again).
import { register } from 'tsx/esm/api';

register();
await import('./cli-main.ts');
