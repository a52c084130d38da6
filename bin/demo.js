#!/usr/bin/env node
// The demo from the TypeScript sources, through tsx (`make demo` runs the bundle, dist/demo.mjs):
// synthetic data (unless present), the daily run for the last two days with the demo model (each
// published), both summaries, one user's lookup and that user's nearest items.
import { register } from 'tsx/esm/api';

register();
await import('./demo-main.ts');
