#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx, so `npx pinnerformer` works right after `npm ci`
// with no build step.
import { register } from 'tsx/esm/api';

// The AWS SDK warns on every run under Node 20; the CLI supports Node >= 20 on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
