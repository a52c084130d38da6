#!/usr/bin/env node
// `make demo`: synthetic data (unless present), the daily run for the last two days with the demo
// model (each published), both summaries, one user's lookup and that user's nearest items.
// Runs the TypeScript sources through tsx, like bin/pinnerformer.js.
import { register } from 'tsx/esm/api';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { main } = await import('../src/pipeline/demo.ts');
try {
  await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
